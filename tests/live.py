"""Helpers for tests that need a real server: a seeded pipeline in a tmp folder and uvicorn on a
free loopback port in a thread, plus small fakes (a scripted, optionally blocking generator)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fpdf import FPDF

from assistant.pipeline import Pipeline, build_pipeline
from assistant.serve.api import create_app
from tests.conftest import CORPUS, make_settings

QUESTION = "Wer nahm am 13. Juni 2016 teil?"
KNOWN_QUOTE = "Aus dem Rheinland nahm Herr Kahlen teil"


@dataclass
class Served:
    """A running uvicorn server in a thread."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def service(self):
        return self.app.state.service

    @property
    def corpus(self) -> Path:
        return Path(self.service.pipeline.settings.corpus_dir)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_app(app: FastAPI) -> Served:
    """Serve `app` on a free port of 127.0.0.1 until `stop()`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "Server startete nicht"
        time.sleep(0.05)
    return Served(f"http://127.0.0.1:{port}", app, server, thread)


def seeded_pipeline(tmp: Path, embedder, extra: dict[str, str | bytes] | None = None,
                    generator=None, **settings) -> Pipeline:
    """The seed corpus (plus `extra` files) copied to tmp, ingested with `embedder`."""
    corpus = tmp / "corpus"
    shutil.copytree(CORPUS, corpus, ignore=shutil.ignore_patterns("README.md"))
    for name, content in (extra or {}).items():
        data = content.encode() if isinstance(content, str) else content
        (corpus / name).write_bytes(data)
    p = build_pipeline(make_settings(tmp, corpus, **settings), embedder=embedder, generator=generator)
    p.ingest(progress=False)
    return p


def live_server(tmp: Path, embedder, extra: dict[str, str] | None = None) -> Iterator[Served]:
    """The seed corpus (plus `extra` files) ingested and served on a free loopback port, until
    the module is done (the body of a module-scoped fixture)."""
    server = serve_app(create_app(seeded_pipeline(tmp, embedder, extra)))
    yield server
    server.stop()


class SlowGenerator:
    """A scripted generator that waits for `release` (or `delay` seconds) before answering, and
    counts how many generations ran at the same time."""

    name = "langsam"

    def __init__(self, reply: str, delay: float = 0.0) -> None:
        self.reply, self.delay = reply, delay
        self.release = threading.Event()
        self.running = self.most_at_once = self.calls = 0
        self._lock = threading.Lock()

    def stream(self, messages, max_tokens, temperature):
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.delay:
                time.sleep(self.delay)
            else:
                self.release.wait(timeout=30)
            yield from (w + " " for w in self.reply.split(" "))
        finally:
            with self._lock:
                self.running -= 1


def pdf_bytes(tmp: Path, text: str, **encryption) -> bytes:
    """A one-page text PDF (encrypted if owner_password/user_password are given)."""
    pdf = FPDF()
    if encryption:
        pdf.set_encryption(**encryption)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    path = tmp / f"tmp-{time.monotonic_ns()}.pdf"
    pdf.output(str(path))
    data = path.read_bytes()
    path.unlink()
    return data
