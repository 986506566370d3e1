"""Stage 3b across machines: the BM25 index as a local cache of a Chroma server.

With a Chroma server (setting `chroma_url`) the chunks and the document ledger live on the
server, and app processes are stateless: each keeps a SQLite BM25 cache derived from it. Before
a search (at most once per `interval` seconds) a process reads the ledger's change token; when it
moved, it compares the ledger with its cache, drops documents that are gone and pulls the chunk
texts of changed ones. A document is taken over only when every chunk id its ledger entry lists
is on the server, so a cache never holds half a document. An ingest through this class commits
the local cache first, then the ledger entry, which is the commit point for every other process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant.indexing.chunking import lexical_text
from assistant.indexing.lexical import LexicalIndex
from assistant.indexing.store import LedgerEntry, SharedLedger, VectorStore

log = logging.getLogger(__name__)
_BATCH = 500  # chunk ids per request when pulling a document


class SharedLexicalIndex(LexicalIndex):
    """A LexicalIndex that follows the ledger in a Chroma server and writes its changes there."""

    def __init__(self, path: Path, store: VectorStore, ledger: SharedLedger,
                 interval: float = 1.0) -> None:
        super().__init__(path)
        self._store, self._ledger, self._interval = store, ledger, interval
        self._seen: str | None = None  # the ledger token the cache is known to match
        self._checked = -math.inf
        self._sync = threading.Lock()  # one pull at a time; writes wait for it
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Pull what other processes changed, unless checked less than `interval` s ago."""
        now = time.monotonic()
        if not force and now - self._checked < self._interval:
            return
        if not self._sync.acquire(blocking=force):
            return  # another thread is pulling: this search uses the cache as it is
        try:
            self._checked = now
            token = self._ledger.token()  # read before the entries: see SharedLedger
            if token != self._seen and self._pull(self._ledger.entries()):
                self._seen = token
        except Exception as e:  # a search goes on with the cache; an ingest must not
            if force:
                raise
            log.warning("Abgleich mit dem Chroma-Server fehlgeschlagen (%s); BM25 nutzt den "
                        "lokalen Stand.", type(e).__name__)
        finally:
            self._sync.release()

    def _pull(self, remote: dict[str, LedgerEntry]) -> bool:
        local = self.hashes()
        for doc_id in set(local) - set(remote):
            super().remove_doc(doc_id)
        done = True
        for doc_id, entry in remote.items():
            if local.get(doc_id) != entry.hash:
                done = self._pull_doc(doc_id) and done
        return done

    def _pull_doc(self, doc_id: str) -> bool:
        got = self._ledger.get(doc_id)
        if got is None:
            return False  # removed meanwhile: the next token says so
        entry, ids = got
        chunks = {}
        for i in range(0, len(ids), _BATCH):
            chunks.update(self._store.get(ids[i:i + _BATCH]))
        if len(chunks) != len(ids):
            return False  # being replaced right now: look again at the next refresh
        have = super().ids_of(doc_id)
        super().replace_doc(doc_id, entry.hash, entry.path, entry.title,
                            [(i, lexical_text(chunks[i])) for i in ids if i not in have],
                            sorted(have - set(ids)), entry.chunks)
        return True

    # --- writing: the local cache first, then the shared ledger ------------------------

    def replace_doc(self, doc_id: str, doc_hash: str, path: str, title: str,
                    add: Iterable[tuple[str, str]], remove: Sequence[str], total: int) -> None:
        """Commit the document locally, then publish it in the shared ledger."""
        with self._sync:
            super().replace_doc(doc_id, doc_hash, path, title, add, remove, total)
            ids = sorted(super().ids_of(doc_id))
            self._ledger.put(doc_id, LedgerEntry(doc_hash, path, title, total), ids)

    def remove_doc(self, doc_id: str) -> None:
        """Forget the document locally and in the shared ledger."""
        with self._sync:
            super().remove_doc(doc_id)
            self._ledger.remove(doc_id)

    # --- reading: catch up first (rate-limited) ----------------------------------------

    def docs(self) -> dict[str, tuple[str, str, int]]:
        """Indexed documents (as of at most `interval` seconds ago)."""
        self.refresh()
        return super().docs()

    def search(self, query: str, k: int, doc_id: str | None = None) -> list[tuple[str, float]]:
        """BM25 over the cache, after catching up with the server."""
        self.refresh()
        return super().search(query, k, doc_id)
