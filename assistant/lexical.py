"""Stage 3b, the lexical side: BM25 over German-analyzed tokens in SQLite FTS5.

Why not an in-memory BM25 (llama-index's BM25Retriever, bm25s)? Those rebuild the whole index
on every change and at every start-up. FTS5 is persisted, updated per document inside a
transaction (a crash leaves the old state), shared safely between processes, and ranks with
bm25() natively. The analyzer (stemming, umlaut folding, date tokens) is ours: assistant.text.

The same database keeps the ingest ledger: which document was indexed with which content hash.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant.text import analyze

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL,
                                   doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(fts, 'row');
CREATE TABLE IF NOT EXISTS docs (doc_id TEXT PRIMARY KEY, hash TEXT NOT NULL, path TEXT,
                                 title TEXT, chunks INTEGER NOT NULL);
"""


class LexicalIndex:
    """BM25 search and the document ledger, in one SQLite file (or in memory)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path),
                                   check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    # --- writing ---------------------------------------------------------------------

    def replace_doc(self, doc_id: str, doc_hash: str, path: str, title: str,
                    add: Iterable[tuple[str, str]], remove: Sequence[str], total: int) -> None:
        """In one transaction: drop `remove` chunk ids, add (chunk id, text) pairs, record the hash."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_ids(remove)
            for cid, text in add:
                cur = db.execute("INSERT OR IGNORE INTO chunks(chunk_id, doc_id) VALUES (?, ?)",
                                 (cid, doc_id))
                if cur.rowcount:
                    db.execute("INSERT INTO fts(rowid, tokens) VALUES (?, ?)",
                               (cur.lastrowid, " ".join(analyze(text))))
            db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)",
                       (doc_id, doc_hash, path, title, total))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def remove_doc(self, doc_id: str) -> None:
        """Forget a document: its chunks and its ledger entry."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_ids(self.ids_of(doc_id))
            self._db.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _delete_ids(self, ids: Iterable[str]) -> None:
        for cid in ids:
            row = self._db.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (cid,)).fetchone()
            if row:
                self._db.execute("DELETE FROM fts WHERE rowid = ?", row)
                self._db.execute("DELETE FROM chunks WHERE rowid = ?", row)

    # --- reading ---------------------------------------------------------------------

    def doc_hash(self, doc_id: str) -> str | None:
        """The content hash the document was last indexed with, if any."""
        row = self._db.execute("SELECT hash FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def docs(self) -> dict[str, tuple[str, str, int]]:
        """Indexed documents: id -> (file path, title, chunk count)."""
        rows = self._db.execute("SELECT doc_id, path, title, chunks FROM docs")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def ids_of(self, doc_id: str) -> set[str]:
        """Chunk ids of one document."""
        rows = self._db.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))
        return {r[0] for r in rows}

    def count(self) -> int:
        """Number of chunks indexed."""
        return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def heads(self, terms: Iterable[str]) -> dict[str, str]:
        """German compounds: term -> its longest indexed tail ("modellkommun" -> "kommun")."""
        wanted = {t: [t[i:] for i in range(3, len(t) - 3)] for t in set(terms)
                  if len(t) >= 8 and t.isalpha()}
        tails = sorted({x for xs in wanted.values() for x in xs})
        if not tails:
            return {}
        marks = ",".join("?" * len(tails))
        known = {r[0] for r in self._db.execute(
            f"SELECT term FROM vocab WHERE term IN ({marks})", tails)}
        return {t: next(x for x in xs if x in known) for t, xs in wanted.items()
                if any(x in known for x in xs)}

    def explains(self, term: str) -> bool:
        """Whether an unindexed term is a variant of indexed ones: a word it begins
        ("zusammen" -> "zusammenarbeit"), an inflection of a known word ("gateways" -> "gateway"),
        or a compound of two known parts ("schul" + "netz", with a linking s)."""
        if len(term) < 4 or not term.isalpha():
            return False
        db = self._db
        if db.execute("SELECT 1 FROM vocab WHERE term > ? AND term < ? LIMIT 1",
                      (term, term + "\uffff")).fetchone():
            return True
        stems = [term[:i] for i in range(max(4, len(term) - 2), len(term))]
        splits = []
        for i in range(3, len(term) - 2):
            left, right = term[:i], term[i:]
            for link in ("", "s", "e", "en", "n", "es", "er"):  # German linking elements
                if right.startswith(link) and len(right) - len(link) >= 3:
                    splits.append((left, right[len(link):]))
        wanted = set(stems) | {x for pair in splits for x in pair}
        marks = ",".join("?" * len(wanted))
        known = {r[0] for r in db.execute(f"SELECT term FROM vocab WHERE term IN ({marks})",
                                          sorted(wanted))}
        return any(s in known for s in stems) or any(a in known and b in known for a, b in splits)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k (chunk id, BM25 score) for the analyzed query and its compound heads, best first."""
        terms = set(analyze(query))
        terms = sorted(terms | set(self.heads(terms).values()))
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        rows = self._db.execute(
            "SELECT c.chunk_id, -bm25(fts) AS s FROM fts JOIN chunks c ON c.rowid = fts.rowid "
            "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?", (match, k))
        return [(r[0], float(r[1])) for r in rows]

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25-style IDF per analyzed term; a term absent from the corpus gets the highest."""
        terms = list(set(terms))
        n = max(self.count(), 1)
        df = {t: 0 for t in terms}
        if terms:
            marks = ",".join("?" * len(terms))
            for term, doc in self._db.execute(
                    f"SELECT term, doc FROM vocab WHERE term IN ({marks})", terms):
                df[term] = doc
        return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
