"""Stage 3a, the dense side: chunks and their vectors in Chroma, with explicit embeddings.

Chroma's own default embedding function would download a model, so the collection is
created with embedding_function=None and every vector comes from our Embedder. Chroma
types stay in this module; callers get Chunks and similarities.

The client is embedded (PersistentClient on a folder) or a Chroma server (HttpClient, setting
`chroma_url`). With a server, the document ledger lives there too (`SharedLedger`), so that any
number of stateless app processes agree on what is indexed (assistant.indexing.bm25_cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from assistant.types import Chunk


def collection_name(embedder_name: str, chunker_version: str) -> str:
    """The collection carries model and chunker version, so changing either never mixes vectors."""
    return f"chunks-{embedder_name}-{chunker_version}"


def _meta(c: Chunk) -> dict:
    meta = {"doc_id": c.doc_id, "title": c.title, "source": c.source, "start": c.start,
            "end": c.end, "section": c.section}
    if c.page is not None:
        meta["page"] = c.page
        meta["page_end"] = c.page_end or c.page
    if c.page_starts:
        meta["page_starts"] = ",".join(f"{o}:{p}" for o, p in c.page_starts)
    if c.page_labels:
        meta["page_labels"] = "\x1f".join(f"{p}:{lab}" for p, lab in c.page_labels)
    if c.ocr:
        meta["ocr"] = True
    if c.role != "paragraph":
        meta["role"] = c.role
    if c.lead:
        meta["lead"] = c.lead
    return meta


def _chunk(cid: str, text: str, m: dict) -> Chunk:
    starts = tuple(tuple(int(x) for x in s.split(":")) for s in m["page_starts"].split(",")) \
        if m.get("page_starts") else ()
    labels = tuple((int(p), lab) for p, lab in (x.split(":", 1) for x in m["page_labels"].split("\x1f"))) \
        if m.get("page_labels") else ()
    return Chunk(id=cid, doc_id=m["doc_id"], title=m["title"], source=m["source"], text=text,
                 start=int(m["start"]), end=int(m["end"]), page=m.get("page"),
                 page_end=m.get("page_end"), section=m.get("section", ""),
                 page_starts=starts, page_labels=labels,  # type: ignore[arg-type]
                 ocr=bool(m.get("ocr", False)), role=m.get("role", "paragraph"),
                 lead=m.get("lead", ""))


def open_client(path: Path | None, url: str = ""):
    """A Chroma server's client when `url` is set, else an embedded one on `path` (or in memory)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        u = urlsplit(url if "//" in url else f"http://{url}")
        https = u.scheme == "https"
        return chromadb.HttpClient(host=u.hostname or "localhost",
                                   port=u.port or (443 if https else 8000), ssl=https,
                                   settings=chroma_settings)
    if path is None:
        return chromadb.EphemeralClient(settings=chroma_settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class VectorStore:
    """One Chroma collection of chunks (persistent at `path`, or in memory for tests)."""

    def __init__(self, path: Path | None, name: str, client=None) -> None:
        client = client if client is not None else open_client(path)
        self.name = name
        self._col = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    def count(self) -> int:
        """Number of chunks stored."""
        return self._col.count()

    def ids(self) -> list[str]:
        """Every stored chunk id."""
        return self._col.get(include=[])["ids"]

    def ids_of(self, doc_id: str) -> set[str]:
        """Ids of the stored chunks of one document."""
        return set(self._col.get(where={"doc_id": doc_id}, include=[])["ids"])

    def doc_ids(self) -> set[str]:
        """Every document id with chunks in the store."""
        metas = self._col.get(include=["metadatas"])["metadatas"] or []
        return {m["doc_id"] for m in metas}

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """Every stored chunk of one document (without vectors)."""
        r = self._col.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        return [_chunk(i, d, m) for i, d, m in zip(r["ids"], r["documents"], r["metadatas"], strict=True)]

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Store chunks with their vectors (upsert: a re-run after a crash is harmless)."""
        if not chunks:
            return
        self._col.upsert(ids=[c.id for c in chunks], embeddings=vectors,
                         documents=[c.text for c in chunks], metadatas=[_meta(c) for c in chunks])

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        if ids:
            self._col.delete(ids=list(ids))

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id (missing ids are absent from the result)."""
        if not ids:
            return {}
        r = self._col.get(ids=list(ids), include=["documents", "metadatas"])
        return {i: _chunk(i, d, m) for i, d, m in zip(r["ids"], r["documents"], r["metadatas"], strict=True)}

    def query(self, vector: np.ndarray, k: int, doc_id: str | None = None
              ) -> list[tuple[Chunk, float]]:
        """The k nearest chunks (of one document, if given) with their cosine similarity, best
        first. (No count() first: it cost 16 ms a query at 100,000 chunks; Chroma returns fewer
        or none by itself.)"""
        if k <= 0:
            return []
        r = self._col.query(query_embeddings=[vector], n_results=k,
                            where={"doc_id": doc_id} if doc_id else None,
                            include=["documents", "metadatas", "distances"])
        rows = zip(r["ids"][0], r["documents"][0], r["metadatas"][0], r["distances"][0], strict=True)
        return [(_chunk(i, d, m), 1.0 - float(dist)) for i, d, m, dist in rows]


@dataclass(frozen=True)
class LedgerEntry:
    """A document as the shared ledger knows it: content hash, file, title, chunk count."""

    hash: str
    path: str
    title: str
    chunks: int


_TOKEN = "#stand"  # not a document id: those are file names made of [a-z0-9._-]


class SharedLedger:
    """The ingest ledger in the Chroma server, beside the chunks: document -> hash and chunk ids.

    Every change writes a new random token last; a reader that saw token T has seen every entry
    written before T, so comparing tokens is enough to know whether to look again.
    """

    def __init__(self, client, name: str) -> None:
        self._col = client.get_or_create_collection(f"ledger-{name}", embedding_function=None)

    def token(self) -> str:
        """The current change token ("" before the first change)."""
        r = self._col.get(ids=[_TOKEN], include=["metadatas"])
        return str(r["metadatas"][0]["token"]) if r["ids"] else ""

    def entries(self) -> dict[str, LedgerEntry]:
        """Every document in the ledger (without chunk ids: those are fetched per document)."""
        r = self._col.get(include=["metadatas"])
        return {i: LedgerEntry(m["hash"], m["path"], m["title"], int(m["chunks"]))
                for i, m in zip(r["ids"], r["metadatas"], strict=True) if i != _TOKEN}

    def get(self, doc_id: str) -> tuple[LedgerEntry, list[str]] | None:
        """One document's entry and chunk ids, if it is in the ledger."""
        r = self._col.get(ids=[doc_id], include=["metadatas", "documents"])
        if not r["ids"]:
            return None
        m = r["metadatas"][0]
        ids = r["documents"][0].split("\n") if r["documents"][0] else []
        return LedgerEntry(m["hash"], m["path"], m["title"], int(m["chunks"])), ids

    def put(self, doc_id: str, entry: LedgerEntry, ids: Sequence[str]) -> None:
        """Record a completely stored document, then announce the change."""
        meta = {"hash": entry.hash, "path": entry.path, "title": entry.title, "chunks": entry.chunks}
        self._col.upsert(ids=[doc_id], embeddings=[[1.0]], documents=["\n".join(sorted(ids))],
                         metadatas=[meta])
        self._bump()

    def remove(self, doc_id: str) -> None:
        """Forget a document, then announce the change."""
        self._col.delete(ids=[doc_id])
        self._bump()

    def _bump(self) -> None:
        self._col.upsert(ids=[_TOKEN], embeddings=[[1.0]], documents=[""],
                         metadatas=[{"token": uuid.uuid4().hex}])
