"""What the web edges share, over the one Pipeline: the answer stream, documents (upload with
content checks, delete, re-index, serving files known to the index), feedback, index status.

`Service.stream` is the only answer path: non-streaming responses are its joined pieces.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answer.streaming import ReleasingStream, joined, replay
from assistant.pipeline import Pipeline
from assistant.read.corpus import SUFFIXES, decode_text, doc_id_for, looks_binary
from assistant.types import Answer, IngestReport

log = logging.getLogger(__name__)

MODEL_PREFIX = "assistant-"
EMPTY_INDEX = "Der Index ist leer. Bitte zuerst Dokumente hochladen oder den Korpus neu einlesen."
MODE_LABELS = {"extractive": "Extraktiv: Sätze wörtlich aus den Quellen",
               "llm": "Sprachmodell: frei formulierte Antwort mit Belegen"}


class RequestError(Exception):
    """A request the service refuses: HTTP status, a German message, extra headers (Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def safe_filename(name: str | None, allowed: Sequence[str] = SUFFIXES) -> str:
    """The last path part of an uploaded name, without control or separator characters, ≤120 chars."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\ud800-\udfff]", "", base).strip().lstrip(".")
    base = re.sub(r"[^\w.\- ()äöüÄÖÜß]", "_", base)
    stem, suffix = os.path.splitext(base)
    allowed = [s.lower() for s in allowed if s.lower() in SUFFIXES]
    if not stem or suffix.lower() not in allowed or base.lower() == "readme.md":
        kinds = ", ".join(dict.fromkeys(s.lstrip(".").upper() for s in allowed))
        raise RequestError(415, f"Dateityp nicht unterstützt: „{base[:120]}“. Erlaubt: {kinds}.")
    return stem[:120 - len(suffix)] + suffix.lower()


def check_content(name: str, data: bytes) -> None:
    """Refuse content that does not match its type: %PDF for .pdf, a Word or Excel package for
    .docx/.xlsx (not encrypted, not truncated, not a ZIP of something else), text (read as ingestion reads
    it: UTF-8, UTF-16 with BOM, else Windows-1252) without binary bytes, HTML with markup."""
    if name.endswith(".pdf"):
        ok = data.startswith(b"%PDF-")
    elif name.endswith((".docx", ".xlsx", ".pptx", ".odt", ".ods")):
        from assistant.read.office import OfficeError, sniff

        try:
            sniff(data, Path(name).suffix)
        except OfficeError as e:
            raise RequestError(415, f"„{name}“ {e}") from e
        return
    else:
        text = decode_text(data)[0]
        markup = re.search(r"<(!doctype html|html|head|body|p|div|h[1-6])\b", text[:65536], re.I)
        ok = bool(text.strip()) and not looks_binary(text) and not data.startswith(b"%PDF") and (
            bool(markup) if name.endswith((".html", ".htm")) else True)
    if not ok:
        raise RequestError(415, f"Der Inhalt von „{name}“ passt nicht zum Dateityp.")


@dataclass
class LlmGate:
    """One generation at a time (llama.cpp holds one KV cache), at most `waiting` more in line;
    any further request is refused with 429 at once, so waiting threads are bounded by construction."""

    waiting: int = 4
    seconds: float = 30.0  # expected time per generation, updated as answers finish
    inside: int = 0  # running + waiting
    peak: int = 0
    _count: threading.Lock = field(default_factory=threading.Lock)
    _run: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self) -> Callable[[bool], None]:
        """Wait for the model, after those ahead (429 with Retry-After if the line is full); the
        returned `release(finished)` frees it, from any thread, once."""
        with self._count:
            if self.inside > self.waiting:
                wait = max(1, math.ceil(self.seconds * self.inside))
                raise RequestError(429, f"Das Sprachmodell ist ausgelastet ({self.waiting} Anfragen "
                                   f"warten). Bitte in {wait} s erneut versuchen oder den Modus "
                                   "„extractive“ wählen.", {"Retry-After": str(wait)})
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            self._run.acquire()  # a plain Lock: the stream may end on another thread
        except BaseException:
            with self._count:
                self.inside -= 1
            raise
        t, once = time.perf_counter(), threading.Lock()

        def release(finished: bool = True) -> None:
            if not once.acquire(blocking=False):
                return
            if finished:  # a client that left early says nothing about the time an answer takes
                self.seconds = 0.7 * self.seconds + 0.3 * (time.perf_counter() - t)
            self._run.release()
            with self._count:
                self.inside -= 1

        return release


@dataclass
class Service:
    """The pipeline and what the web edges share: the write lock, the upload limit, the LLM line,
    the feedback file. Limits default to the pipeline's settings."""

    pipeline: Pipeline
    feedback_path: Path
    max_upload: int = 0
    gate: LlmGate | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # index writes, one at a time
    feedback_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        settings = self.pipeline.settings
        self.max_upload = self.max_upload or settings.max_upload_mb * 2**20
        self.gate = self.gate or LlmGate(settings.llm_queue)

    def modes(self) -> list[str]:
        """Answer modes this pipeline can serve, the default first (llm only when one is set up)."""
        return self.pipeline.modes()

    def check_mode(self, mode: str | None) -> str:
        """The mode to use (default: the first); an unknown or unavailable one is a 404."""
        if not mode:
            return self.modes()[0]
        if mode not in self.modes():
            raise RequestError(404, f"Antwortmodus „{mode}“ ist nicht verfügbar. Verfügbar: "
                               + ", ".join(self.modes()))
        return mode

    def stream(self, question: str, mode: str | None = None,
               history: Sequence[dict] = ()) -> ReleasingStream:
        """The one answer path: text pieces as they are made (verified sentences in the llm
        mode), then the whole Answer.

        Checked before it returns, so a refusal (400, 404, 429) comes before any response starts;
        the model's slot is taken here too, and held until the stream ends or is closed (a client
        that goes away) or dropped."""
        mode, question = self.check_mode(mode), self.check_question(question)
        t = time.perf_counter()
        if not self.pipeline.lexical.docs():  # the ledger: a few rows, not a count of 100,000 chunks
            empty = replay(Answer(EMPTY_INDEX, (), refused=True))
            return ReleasingStream(self._logged(empty, question, mode, t), None)
        assert self.gate is not None
        release = self.gate.acquire() if mode == "llm" else None
        parts = self.pipeline.stream(question, history, mode)
        return ReleasingStream(self._logged(parts, question, mode, t), release)

    @staticmethod
    def _logged(parts: Generator[str | Answer, None, None], question: str, mode: str,
                t: float) -> Iterator[str | Answer]:
        first = None
        with closing(parts):  # a client that left stops the answerer and its model too
            for part in parts:
                if isinstance(part, Answer):  # lengths only: questions and documents stay private
                    log.info("Frage beantwortet: %d Zeichen, Modus %s, %d Belege, abgelehnt: %s, "
                             "%.0f ms (erstes Textstück nach %.0f ms)", len(question), mode,
                             len(part.citations), part.refused, 1000 * (time.perf_counter() - t),
                             1000 * ((first or time.perf_counter()) - t))
                elif first is None:
                    first = time.perf_counter()
                yield part

    def check_question(self, question: str) -> str:
        """The question without control characters; empty or too long is a 400 (German)."""
        question = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", " ", question).strip()
        if not question:
            raise RequestError(400, "Die Frage ist leer. Bitte eine Frage eingeben.")
        limit = self.pipeline.settings.max_question_chars
        if len(question) > limit:
            raise RequestError(400, f"Die Frage ist zu lang ({len(question)} Zeichen, höchstens "
                               f"{limit}). Bitte kürzer fassen.")
        return question

    def ask(self, question: str, mode: str | None = None, history: Sequence[dict] = ()) -> Answer:
        """The joined stream: exactly the text and citations that streaming delivers."""
        return joined(self.stream(question, mode, history))

    def status(self) -> dict:
        """Readiness and size of the index."""
        n = self.pipeline.store.count()
        return {"ready": n > 0, "documents": len(self.pipeline.lexical.docs()), "chunks": n}

    def documents(self) -> list[dict]:
        """Indexed documents: id, title, file name, passage count and the link to the file."""
        return [{"id": d, "title": title, "file": Path(path).name, "chunks": n,
                 "url": f"/api/documents/{d}/file"}
                for d, (path, title, n) in sorted(self.pipeline.lexical.docs().items())]

    def add_document(self, filename: str | None, data: bytes,
                     progress: bool = False) -> tuple[str, IngestReport]:
        """Check an upload, save it into the corpus folder and index it; return doc id and report."""
        name = safe_filename(filename, self.pipeline.settings.upload_types)
        if len(data) > self.max_upload:
            raise RequestError(413, f"Datei zu groß (höchstens {self.max_upload // 2**20} MB).")
        check_content(name, data)
        corpus = Path(self.pipeline.settings.corpus_dir)
        corpus.mkdir(parents=True, exist_ok=True)
        target, tmp = corpus / name, corpus / f".upload-{uuid.uuid4().hex}"
        known = self.pipeline.lexical.docs().get(doc_id_for(target))
        if known and Path(known[0]).resolve() != target.resolve():
            raise RequestError(409, f"Ein Dokument „{Path(known[0]).name}“ gibt es schon; "
                               "bitte zuerst löschen.")
        with self.lock:
            old = target.read_bytes() if target.is_file() else None
            tmp.write_bytes(data)
            os.replace(tmp, target)
            report = self.pipeline.ingest([target], progress=progress)
            if report.errors:  # unusable file: put back what was there before
                if old is None:
                    target.unlink()
                else:
                    target.write_bytes(old)
                raise RequestError(422, "; ".join(e.replace(str(target), name) for e in report.errors))
        log.info("Dokument eingelesen: %s (%d Bytes, %d Abschnitte neu)", name, len(data), report.added)
        return doc_id_for(target), report

    def delete_document(self, doc_id: str) -> bool:
        """Drop a document from both indexes and its file from the corpus folder; False if unknown."""
        with self.lock:
            entry = self.pipeline.lexical.docs().get(doc_id)
            if entry is None:
                return False
            self.pipeline.remove_document(doc_id)  # ledger first: a crash leaves no dangling ids
            f = Path(entry[0]).resolve()
            if f.is_file() and f.is_relative_to(Path(self.pipeline.settings.corpus_dir).resolve()):
                f.unlink()
        return True

    def reindex(self, progress: bool = False) -> IngestReport:
        """Bring the index up to date with the corpus folder."""
        with self.lock:
            return self.pipeline.ingest(progress=progress)

    def document_file(self, doc_id: str) -> Path | None:
        """The file of an indexed document, looked up in the ledger (never a path from a request)."""
        entry = self.pipeline.lexical.docs().get(doc_id)
        f = Path(entry[0]) if entry else None
        return f if f is not None and f.is_file() else None

    def feedback(self, question: str, answer: dict, liked: bool, mode: str = "") -> dict:
        """Append a rating to the feedback file as an evaluation item (evals/README.md format)."""
        item = feedback_item(question, answer, liked, mode or self.modes()[0])
        self.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        with self.feedback_lock, self.feedback_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
        return item


def feedback_item(question: str, answer: dict, liked: bool, mode: str) -> dict:
    """👍 keeps what was answered (refusal, first quote, page) as the expectation; 👎 on a refusal
    expects an answer. The rating is in the id (fb-up-…/fb-down-…) and the note."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    item: dict = {"id": f"fb-{'up' if liked else 'down'}-{stamp}-{uuid.uuid4().hex[:6]}",
                  "question": question,
                  "note": f"Rückmeldung {'👍' if liked else '👎'} ({mode}): {answer.get('answer', '')[:500]}"}
    cites = answer.get("citations") or []
    if liked:
        item["refuse"] = bool(answer.get("refused"))
        if cites:
            item["quote"] = cites[0]["quote"][:200]
            item["reference"] = answer.get("answer", "")
            if cites[0].get("page") is not None:
                item["page"] = cites[0]["page"]
    elif answer.get("refused"):
        item["refuse"] = False
    return item
