"""Ingestion: files -> SourceDocs -> Chunks -> vectors -> Chroma + BM25, idempotently.

A document whose content hash (text, title, chunker settings) is in the ledger is skipped
without embedding anything. A changed document gets only its new chunks embedded and its
vanished chunks deleted.

Crash safety: the BM25 transaction (chunk rows and ledger entry together) is the commit point,
and retrieval shows only chunks listed there. Per document: mark it pending, upsert the new
chunks into Chroma (invisible so far), commit BM25 + ledger (the old version turns into the new
one at once), delete the vanished chunks from Chroma, clear the mark. A process killed anywhere
leaves the old or the new version visible, never a mix; the next run reuses the vectors already
stored (ids are deterministic, writes are upserts), and removes what a dead writer left behind.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from assistant.indexing.chunking import CHUNKER_VERSION, chunk, embedding_text, lexical_text
from assistant.indexing.embeddings import Embedder
from assistant.indexing.lexical import LexicalIndex
from assistant.indexing.store import VectorStore
from assistant.read.corpus import DocumentError, ManifestEntry, find_files, load_document
from assistant.read.ocr import available as ocr_available
from assistant.types import Chunk, IngestReport, SourceDoc

# bump when reading, cleaning or the analyzer changes: r3 = a value repeated in its row,
# r4 = a version number is no date, r5 = a paragraph runs on across a labelled page,
# r6 = a path at a line end is followed by a space where running text starts ("archives/ von")
READER_VERSION = "r6"


def ingest(paths: Iterable[Path], manifest: dict[str, ManifestEntry], embedder: Embedder,
           store: VectorStore, lexical: LexicalIndex, max_chars: int = 600,
           batch: int = 32, progress: bool = True) -> IngestReport:
    """Bring the index up to date with the files under `paths`; report what changed."""
    t0 = time.perf_counter()
    paths = list(paths)
    report = IngestReport()
    lexical.refresh(force=True)
    files = find_files(paths)
    seen: dict[str, Path] = {}
    for f in tqdm(files, desc="Dokumente", unit="Datei", disable=not progress, file=sys.stderr):
        t_read = time.perf_counter()
        fp = file_fingerprint(f, manifest.get(f.name), max_chars)
        key = os.fsencode(f.resolve()).decode("utf-8", "backslashreplace")  # any name SQLite can hold
        known = lexical.known_file(key, fp) if fp else None
        if known is not None and known not in seen:  # same bytes, same settings: not even read
            seen[known] = f
            report.documents += 1
            report.unchanged += len(lexical.ids_of(known))
            continue
        try:
            loaded = load_document(f, manifest.get(f.name))
        except DocumentError as e:
            report.errors.append(str(e))
            continue
        report.read_seconds += time.perf_counter() - t_read
        report.pages += loaded.pages
        report.warnings += loaded.warnings
        doc = loaded.doc
        if doc.id in seen:
            report.errors.append(f"{f}: gleicher Dateiname wie {seen[doc.id]}, übersprungen.")
            continue
        seen[doc.id] = f
        report.documents += 1
        _sync_document(doc, embedder, store, lexical, max_chars, batch, progress, report)
        if fp:
            lexical.remember_file(key, fp, doc.id, doc_state_hash(doc, max_chars))
    _prune(paths, seen, store, lexical, report)
    recover(store, lexical)
    report.seconds = time.perf_counter() - t0
    return report


def file_fingerprint(f: Path, entry: ManifestEntry | None, max_chars: int) -> str:
    """The file's bytes (SHA-256, ~5 ms for a 500-page PDF) with what else shapes its chunks;
    an unchanged fingerprint skips parsing (re-ingesting the 513-page book: 2.0 s of reading).
    Empty when the file cannot be read: loading it then reports the error."""
    try:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
    except OSError:
        return ""
    ocr = f.suffix.lower() == ".pdf" and ocr_available()  # installing Tesseract later re-reads
    key = f"{digest}:{entry!r}:{CHUNKER_VERSION}:{max_chars}:{READER_VERSION}:{ocr}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def doc_state_hash(doc: SourceDoc, max_chars: int) -> str:
    """What decides a document's chunks: its content and the chunker's version and size."""
    key = f"{doc.content_hash}:{doc.source}:{CHUNKER_VERSION}:{max_chars}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _sync_document(doc: SourceDoc, embedder: Embedder, store: VectorStore, lexical: LexicalIndex,
                   max_chars: int, batch: int, progress: bool, report: IngestReport) -> None:
    state = doc_state_hash(doc, max_chars)
    if lexical.doc_hash(doc.id) == state:
        report.unchanged += len(lexical.ids_of(doc.id))
        return
    chunks = chunk(doc, max_chars)
    wanted = {c.id for c in chunks}
    lexical.mark_pending(doc.id)
    in_store = store.ids_of(doc.id)
    in_lexical = lexical.ids_of(doc.id)
    new = [c for c in chunks if c.id not in in_store]
    _embed_and_store(new, embedder, store, batch, progress, report)
    stale = (in_store | in_lexical) - wanted
    lexical.replace_doc(doc.id, state, doc.meta.get("file", doc.source), doc.title,
                        [(c.id, lexical_text(c)) for c in chunks if c.id not in in_lexical],
                        sorted(stale), len(chunks))
    store.delete(sorted(stale))
    lexical.clear_pending(doc.id)
    report.added += len(new)
    report.unchanged += len(chunks) - len(new)
    report.removed += len(stale)


def _embed_and_store(chunks: list[Chunk], embedder: Embedder, store: VectorStore, batch: int,
                     progress: bool, report: IngestReport) -> None:
    if not chunks:
        return
    bar = tqdm(total=len(chunks), desc=f"Einbetten {chunks[0].doc_id}", unit="Abschnitt",
               disable=not progress, file=sys.stderr, leave=False)
    for i in range(0, len(chunks), batch):
        part = chunks[i:i + batch]
        t = time.perf_counter()
        vectors = embedder.embed_passages([embedding_text(c) for c in part])
        report.embed_seconds += time.perf_counter() - t
        store.add(part, vectors)
        bar.update(len(part))
    bar.close()


def _prune(paths: list[Path], seen: dict[str, Path], store: VectorStore,
           lexical: LexicalIndex, report: IngestReport) -> None:
    """Forget documents that were ingested from one of the given folders and are gone now."""
    folders = [p.resolve() for p in paths if p.is_dir()]
    for doc_id, (path, _, _) in lexical.docs().items():
        f = Path(path)
        gone = doc_id not in seen and not f.exists()
        if gone and any(f.is_relative_to(d) for d in folders):
            report.removed += remove_document(doc_id, store, lexical)


def remove_document(doc_id: str, store: VectorStore, lexical: LexicalIndex) -> int:
    """Drop a document from both indexes, ledger first (the commit point); return its chunk count."""
    lexical.mark_pending(doc_id)
    ids = lexical.ids_of(doc_id) | store.ids_of(doc_id)
    lexical.remove_doc(doc_id)
    store.delete(sorted(ids))
    lexical.clear_pending(doc_id)
    return len(ids)


def recover(store: VectorStore, lexical: LexicalIndex) -> list[str]:
    """Delete the chunks a dead writer left in Chroma that the ledger does not list; return the
    documents repaired. Documents of live writers (another ingest right now) are left alone."""
    repaired = []
    for doc_id, pid in lexical.pending().items():
        if _alive(pid):
            continue
        store.delete(sorted(store.ids_of(doc_id) - lexical.ids_of(doc_id)))
        lexical.clear_pending(doc_id)
        repaired.append(doc_id)
    return repaired


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def restore_lexical(store: VectorStore, lexical: LexicalIndex, candidates: Iterable[Path],
                    current: Path) -> int:
    """Fill a newly created BM25 file (a new analyzer version writes another file, which starts
    empty) from the chunks in Chroma and the ledger of the newest earlier BM25 file: only what
    it had committed, with its document hashes, paths and file fingerprints, so the next ingest
    embeds and re-reads nothing. Without an earlier file nothing is restored: which stored
    chunks were committed is then unknown (a first ingest may have died half way). Returns how
    many documents were restored."""
    older = sorted((p for p in candidates if p != current), key=lambda p: p.stat().st_mtime)
    if not older or store.count() == 0:
        return 0
    print("Der Stichwortindex wird für die neue Textanalyse aus dem Vektorindex neu aufgebaut …",
          file=sys.stderr)
    old = sqlite3.connect(f"file:{older[-1]}?mode=ro", uri=True)
    try:
        docs = {r[0]: r[1:] for r in old.execute("SELECT doc_id, hash, path, title, chunks FROM docs")}
        committed = {r[0] for r in old.execute("SELECT chunk_id FROM chunks")}
        files = old.execute("SELECT path, fingerprint, doc_id, hash FROM files").fetchall()
    finally:
        old.close()
    restored = set()
    for doc_id in sorted(store.doc_ids() & docs.keys()):  # others were never committed
        chunks = [c for c in store.chunks_of(doc_id) if c.id in committed]
        if chunks:
            doc_hash, path, title, total = docs[doc_id]
            lexical.replace_doc(doc_id, doc_hash, path, title,
                                [(c.id, lexical_text(c)) for c in chunks], [], total)
            restored.add(doc_id)
    for path, fingerprint, doc_id, doc_hash in files:
        if doc_id in restored:
            lexical.remember_file(path, fingerprint, doc_id, doc_hash)
    return len(restored)
