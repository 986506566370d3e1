"""Stage 3b, the lexical side: BM25 over German-analyzed tokens in SQLite FTS5.

Why not an in-memory BM25 (llama-index's BM25Retriever, bm25s)? Those rebuild the whole index
on every change and at every start-up. FTS5 is persisted, updated per document inside a
transaction (a crash leaves the old state), shared safely between processes, and ranks with
bm25() natively. The analyzer (stemming, umlaut folding, date and identifier tokens) is ours:
assistant.text. A second column holds the parts of each chunk's compounds (assistant.text.compounds),
split against the words the index knows and weighed lower than the words as written, so "Ausweis"
finds "Personalausweisgebühren" without outranking a chunk that says "Ausweis".

The same database keeps the ingest ledger: which document was indexed with which content hash.
Its transaction is the commit point of an ingest (assistant.indexing.ingest): retrieval shows a chunk
only once it is listed here. A `pending` row marks a document whose vector store may hold chunks
this database does not list (not yet, or not any more) until its writer finishes.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from assistant.text.analyzer import analyze, fold, stem
from assistant.text.compounds import LINKS, MIN_PART, splits, words

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL,
                                   doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, parts,
                                                  tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(fts, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5vocab(fts, 'col');
CREATE TABLE IF NOT EXISTS docs (doc_id TEXT PRIMARY KEY, hash TEXT NOT NULL, path TEXT,
                                 title TEXT, chunks INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS unsplit USING fts5(folded, word UNINDEXED, tokenize='trigram');
CREATE TABLE IF NOT EXISTS pending (doc_id TEXT PRIMARY KEY, pid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
                                  doc_id TEXT NOT NULL, hash TEXT NOT NULL);
"""


PART_WEIGHT = 0.75  # BM25 weight of a compound's parts against the words as written (measured)
_MAX_VARS = 900  # SQLite host parameters per statement, well below its limit


def bm25_idf(n: int, d: int) -> float:
    """BM25's IDF of a term that `d` of `n` chunks hold (never negative)."""
    return math.log(1 + (n - d + 0.5) / (d + 0.5))


class LexicalIndex:
    """BM25 search and the document ledger, in one SQLite file (or in memory)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path),
                                   check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # One connection serves all threads of a process: the lock keeps a reader from seeing
        # another thread's transaction half done (old chunks deleted, new ones not yet added).
        self._lock = threading.RLock()
        self._commits = 0

    def _rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- writing ---------------------------------------------------------------------

    def replace_doc(self, doc_id: str, doc_hash: str, path: str, title: str,
                    add: Iterable[tuple[str, str]], remove: Sequence[str], total: int) -> None:
        """In one transaction: drop `remove` chunk ids, add (chunk id, text) pairs, record the hash."""
        rows, fresh, whole = self._analyzed(add)  # outside the lock
        with self._transaction() as db:
            self._delete_ids(remove)
            for cid, toks, parts in rows:
                cur = db.execute("INSERT OR IGNORE INTO chunks(chunk_id, doc_id) VALUES (?, ?)",
                                 (cid, doc_id))
                if cur.rowcount:
                    db.execute("INSERT INTO fts(rowid, tokens, parts) VALUES (?, ?, ?)",
                               (cur.lastrowid, toks, parts))
            db.executemany("INSERT INTO unsplit VALUES (?, ?)", [(fold(w), w) for w in whole])
            self._resplit(fresh)
            db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)",
                       (doc_id, doc_hash, path, title, total))

    def _analyzed(self, add: Iterable[tuple[str, str]]
                  ) -> tuple[list[tuple[str, str, str]], set[str], set[str]]:
        """(chunk id, tokens, compound parts) per chunk, the terms new to the index, and the
        words that did not split. A compound splits into words that this batch or the index
        already holds (see assistant.text.compounds)."""
        analyzed = [(cid, analyze(text), words(text)) for cid, text in add]
        batch = Counter(t for _, toks, _ in analyzed for t in set(toks))
        known = lambda need: {t: n + batch[t] for t, n in self.counts(need).items()}  # noqa: E731
        candidates = {w for *_, ws in analyzed for w in ws}
        parts = splits(candidates, known)
        rows = [(cid, " ".join(toks), " ".join(p for w in ws for p in parts.get(w, ())))
                for cid, toks, ws in analyzed]
        fresh = {t for t, n in self.counts(batch).items() if n == 0}
        # Words left whole are kept for _resplit; a word whose stem the index knew is there already.
        return rows, fresh, {w for w in candidates - parts.keys() if stem(w) in fresh}

    def _resplit(self, fresh: set[str]) -> None:
        """Split the compounds indexed before a part of theirs was: this batch brought `fresh`
        terms, so a word left whole that contains one may split now (in the open transaction)."""
        new = sorted(t for t in fresh if len(t) >= MIN_PART and t.isalpha())
        maybe: dict[str, int] = {}
        for i in range(0, len(new), _MAX_VARS):  # the trigram index finds them as substrings
            match = " OR ".join(f'"{t}"' for t in new[i:i + _MAX_VARS])
            maybe |= {w: r for r, w in self._db.execute(
                "SELECT rowid, word FROM unsplit WHERE unsplit MATCH ?", (match,))}
        for w, parts in splits(maybe, self.counts).items():
            self._db.execute("DELETE FROM unsplit WHERE rowid = ?", (maybe[w],))
            rowids = self._db.execute("SELECT rowid FROM fts WHERE fts MATCH ?",
                                      (f'tokens : "{stem(w)}"',)).fetchall()
            self._db.executemany("UPDATE fts SET parts = trim(parts || ' ' || ?) WHERE rowid = ?",
                                 [(" ".join(parts), r) for (r,) in rowids])

    def remember_file(self, path: str, fingerprint: str, doc_id: str, doc_hash: str) -> None:
        """Note that the file with these bytes gave this document version (see known_file)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                             (path, fingerprint, doc_id, doc_hash))

    def known_file(self, path: str, fingerprint: str) -> str | None:
        """The document id of a file whose bytes are unchanged since it gave the version the
        ledger holds now; None when it must be read again (new, changed, or removed since)."""
        rows = self._rows("SELECT f.doc_id FROM files f JOIN docs d ON d.doc_id = f.doc_id "
                          "AND d.hash = f.hash WHERE f.path = ? AND f.fingerprint = ?",
                          (path, fingerprint))
        return rows[0][0] if rows else None

    def remove_doc(self, doc_id: str) -> None:
        """Forget a document: its chunks and its ledger entry."""
        with self._transaction() as db:
            self._delete_ids(self.ids_of(doc_id))
            db.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._commits += 1

    def version(self) -> tuple[int, int]:
        """Changes when any process commits: ours counted here, others' by SQLite's data_version."""
        with self._lock:
            return self._commits, self._db.execute("PRAGMA data_version").fetchone()[0]

    def _delete_ids(self, ids: Iterable[str]) -> None:
        for cid in ids:
            row = self._db.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (cid,)).fetchone()
            if row:
                self._db.execute("DELETE FROM fts WHERE rowid = ?", row)
                self._db.execute("DELETE FROM chunks WHERE rowid = ?", row)

    def mark_pending(self, doc_id: str) -> None:
        """Note, before the vector store is touched, that this process is changing the document."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?)", (doc_id, os.getpid()))

    def clear_pending(self, doc_id: str) -> None:
        """Both sides of the document agree again."""
        with self._lock:
            self._db.execute("DELETE FROM pending WHERE doc_id = ?", (doc_id,))

    def refresh(self, force: bool = False) -> None:
        """Catch up with writes of other processes: nothing to do, SQLite is the shared truth here
        (assistant.indexing.bm25_cache overrides this for a Chroma server, where this database is a cache)."""

    # --- reading ---------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        """Documents being changed (or left half changed by a crash): id -> writer's process id."""
        return dict(self._rows("SELECT doc_id, pid FROM pending"))  # type: ignore[arg-type]

    def doc_hash(self, doc_id: str) -> str | None:
        """The content hash the document was last indexed with, if any."""
        rows = self._rows("SELECT hash FROM docs WHERE doc_id = ?", (doc_id,))
        return rows[0][0] if rows else None

    def hashes(self) -> dict[str, str]:
        """Indexed documents: id -> content hash."""
        return dict(self._rows("SELECT doc_id, hash FROM docs"))  # type: ignore[arg-type]

    def docs(self) -> dict[str, tuple[str, str, int]]:
        """Indexed documents: id -> (file path, title, chunk count)."""
        return {r[0]: (r[1], r[2], r[3]) for r in self._rows("SELECT doc_id, path, title, chunks FROM docs")}

    def ids_of(self, doc_id: str) -> set[str]:
        """Chunk ids of one document."""
        return {r[0] for r in self._rows("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))}

    def present(self, ids: Sequence[str]) -> set[str]:
        """Which of these chunk ids are indexed (committed) here."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {r[0] for r in self._rows(f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({marks})",
                                         list(ids))}

    def count(self) -> int:
        """Number of chunks indexed."""
        return self._rows("SELECT count(*) FROM chunks")[0][0]

    def heads(self, terms: Iterable[str]) -> dict[str, str]:
        """German compounds: term -> its longest indexed tail ("modellkommun" -> "kommun")."""
        wanted = {t: [t[i:] for i in range(3, len(t) - 3)] for t in set(terms)
                  if len(t) >= 8 and t.isalpha()}
        tails = sorted({x for xs in wanted.values() for x in xs})
        if not tails:
            return {}
        marks = ",".join("?" * len(tails))
        known = {r[0] for r in self._rows(f"SELECT term FROM vocab WHERE term IN ({marks})", tails)}
        return {t: next(x for x in xs if x in known) for t, xs in wanted.items()
                if any(x in known for x in xs)}

    def is_variant_of_indexed(self, term: str) -> bool:
        """Whether an unindexed term is a variant of indexed ones: a word it begins
        ("zusammen" -> "zusammenarbeit"), an inflection of a known word ("gateways" -> "gateway"),
        or a compound of two known parts ("schul" + "netz", with a linking s)."""
        if len(term) < 4 or not term.isalpha():
            return False
        if self._rows("SELECT 1 FROM vocab WHERE term > ? AND term < ? LIMIT 1",
                      (term, term + "\uffff")):
            return True
        if self.inflections(term):
            return True
        splits = []
        for i in range(3, len(term) - 2):
            left, right = term[:i], term[i:]
            for link in LINKS:
                if right.startswith(link) and len(right) - len(link) >= 3:
                    splits.append((left, right[len(link):]))
        wanted = {x for pair in splits for x in pair}
        if not wanted:
            return False
        marks = ",".join("?" * len(wanted))
        known = {r[0] for r in self._rows(f"SELECT term FROM vocab WHERE term IN ({marks})",
                                          sorted(wanted))}
        return any(a in known and b in known for a, b in splits)

    def inflections(self, term: str) -> list[str]:
        """Indexed words that an unindexed term inflects, one or two letters shorter
        ("gateways" -> "gateway": the German stemmer keeps an English plural s)."""
        if len(term) < 5 or not term.isalpha():
            return []
        stems = [term[:i] for i in range(max(4, len(term) - 2), len(term))]
        marks = ",".join("?" * len(stems))
        return sorted((r[0] for r in self._rows(f"SELECT term FROM vocab WHERE term IN ({marks})",
                                                stems)), key=len, reverse=True)

    def search(self, query: str, k: int, doc_id: str | None = None) -> list[tuple[str, float]]:
        """Top-k (chunk id, BM25 score) for the analyzed query, its compound heads and parts, best
        first (of one document, if given); in a chunk, a compound's parts count PART_WEIGHT of
        the words as written."""
        terms = set(analyze(query))
        parts = {p for ps in self.compounds(query).values() for p in ps}
        terms = sorted(terms | set(self.heads(terms).values()) | parts)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        only = " AND c.doc_id = ?" if doc_id else ""
        rows = self._rows(
            f"SELECT c.chunk_id, -bm25(fts, 1.0, {PART_WEIGHT}) AS s FROM fts "
            f"JOIN chunks c ON c.rowid = fts.rowid WHERE fts MATCH ?{only} ORDER BY s DESC LIMIT ?",
            (match, doc_id, k) if doc_id else (match, k))
        return [(r[0], float(r[1])) for r in rows]

    def counts(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks hold each analyzed term as written (compound parts not counted)."""
        terms = sorted(set(terms))
        out = dict.fromkeys(terms, 0)
        for i in range(0, len(terms), _MAX_VARS):
            part = terms[i:i + _MAX_VARS]
            out.update(self._rows("SELECT term, doc FROM words WHERE col = 'tokens' AND term IN "
                                  f"({','.join('?' * len(part))})", part))
        return out

    def compounds(self, text: str) -> dict[str, list[str]]:
        """The compounds of a text (a question) -> their indexed parts ("personalausweisgebühren"
        -> personal, ausweis, gebuhr), split as the index splits its own (assistant.text.compounds)."""
        return splits(words(text, nouns=False), self.counts)  # a question may be typed lower-case

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25-style IDF per analyzed term; a term absent from the corpus gets the highest."""
        n = max(self.count(), 1)
        return {t: bm25_idf(n, d) for t, d in self.counts(terms).items()}
