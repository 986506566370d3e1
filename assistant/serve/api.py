"""The web edge: one FastAPI app with the REST API (/api), OpenAI-compatible endpoints (/v1), docs
(/docs) and the Gradio UI (/), all over the one in-process Pipeline built at start-up.

Routes parse, call `Service`, and map the result. `Service.stream` is the only answer path: the
non-streaming responses are its joined pieces (design.md). The streaming ones pass each piece on
as it comes (in the llm mode a verified sentence, while the model writes the next one).
"""

from __future__ import annotations

import html
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from assistant.answer.streaming import ReleasingStream, joined, tokens
from assistant.pipeline import Pipeline
from assistant.serve import highlight
from assistant.serve.present import source_list, without_sources
from assistant.serve.security import bind_problem, install
from assistant.serve.service import MODEL_PREFIX, RequestError, Service
from assistant.types import Answer

log = logging.getLogger(__name__)


class AskRequest(BaseModel):
    question: str
    mode: str | None = None


class ContentPart(BaseModel):  # OpenAI's [{"type": "text", "text": …}]; images are ignored
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):  # extra fields (name, tool_calls, …) are ignored
    role: str
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    messages: list[ChatMessage]
    mode: str | None = None


class FeedbackCitation(BaseModel, extra="allow"):
    quote: str = ""
    page: int | None = None


class RatedAnswer(BaseModel, extra="allow"):  # the answer as /api/ask returned it
    answer: str = ""
    refused: bool = False
    citations: list[FeedbackCitation] = []


class FeedbackRequest(BaseModel):
    question: str
    answer: RatedAnswer
    liked: bool
    mode: str | None = None


class CompletionRequest(BaseModel):  # temperature, max_tokens, …: ignored
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    citations_in_content: bool | None = Field(
        None, description="Die Antwort endet mit einer Quellenliste; false = nur im Feld "
        "`citations` (leer = Einstellung v1_sources_in_content).")


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict]]:
    """The last user message, and the conversation before it (for follow-up questions)."""
    plain = [{"role": m.role, "content": _text(m.content) if m.role != "assistant"
              else without_sources(_text(m.content))} for m in messages]
    for i in range(len(plain) - 1, -1, -1):
        if plain[i]["role"] == "user" and plain[i]["content"].strip():
            return plain[i]["content"], plain[:i]
    raise RequestError(400, "Keine Frage gefunden: die letzte Nachricht mit role=user fehlt.")


def _text(content) -> str:
    return content if isinstance(content, str) else " ".join(p.text for p in content or [] if p.text)


def _service(request: Request) -> Service:
    return request.app.state.service


Svc = Annotated[Service, Depends(_service)]
api = APIRouter(prefix="/api", tags=["api"])
v1 = APIRouter(prefix="/v1", tags=["openai"])


def sse(data: dict, event: str | None = None) -> str:
    """One server-sent event with a JSON payload."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def sent(events: Iterator[str], parts: ReleasingStream) -> AsyncIterator[str]:
    """Each event as soon as it is made. When the client goes away, the answer stream is closed
    at once, even while a thread waits for the model's next sentence (starlette's own loop would
    wait for it): the model stops after that sentence and its slot is freed."""
    try:
        while (event := await anyio.to_thread.run_sync(next, events, None,
                                                        abandon_on_cancel=True)) is not None:
            yield event
    finally:
        parts.close()


@api.get("/health")
def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@api.get("/ready")
def ready(svc: Svc) -> JSONResponse:
    """Readiness: 200 once the index holds passages, else 503."""
    status = svc.status()
    return JSONResponse(status, status_code=200 if status["ready"] else 503)


@api.post("/ask")
def ask(req: AskRequest, svc: Svc) -> dict:
    """One question in, the answer with [n] markers and its citations out (the CLI's --json schema)."""
    return svc.ask(req.question, req.mode).to_json()


@api.post("/chat")
def chat(req: ChatRequest, svc: Svc) -> StreamingResponse:
    """Chat with history, streamed as SSE: `token` events ({"delta"}: words, or in the llm mode
    whole verified sentences), then one `answer` event."""
    question, history = split_messages(req.messages)
    parts = svc.stream(question, svc.check_mode(req.mode), history)
    events = (sse({"delta": p}, "token") if isinstance(p, str) else sse(p.to_json(), "answer")
              for p in parts)
    return StreamingResponse(sent(events, parts), media_type="text/event-stream")


@api.get("/documents")
def documents(svc: Svc) -> list[dict]:
    """The indexed documents."""
    return svc.documents()


@api.post("/documents")
def upload(file: UploadFile, svc: Svc) -> dict:
    """Upload a PDF, DOCX, XLSX, TXT, MD or HTML file (checked by content, ≤ max_upload_mb) and index it."""
    data = file.file.read(svc.max_upload + 1)
    doc_id, report = svc.add_document(file.filename, data)
    doc = next(d for d in svc.documents() if d["id"] == doc_id)
    return {"document": doc, "added": report.added, "unchanged": report.unchanged,
            "warnings": report.warnings}


@api.delete("/documents/{doc_id}")
def delete(doc_id: str, svc: Svc) -> dict:
    """Remove a document from the index and the corpus folder."""
    if not svc.delete_document(doc_id):
        raise RequestError(404, f"Unbekanntes Dokument: {doc_id}")
    return {"deleted": doc_id}


@api.post("/documents/reindex")
def reindex(svc: Svc) -> dict:
    """Re-read the corpus folder: changed files are re-indexed, deleted ones leave the index."""
    r = svc.reindex()
    return {"documents": r.documents, "added": r.added, "unchanged": r.unchanged,
            "removed": r.removed, "errors": r.errors, "missing": r.missing}


@api.get("/documents/{doc_id}/file")
def document_file(doc_id: str, svc: Svc) -> FileResponse:
    """The document's file (PDFs open at #page=N); only files known to the index ledger."""
    f = svc.document_file(doc_id)
    if f is None:
        raise RequestError(404, f"Unbekanntes Dokument: {doc_id}")
    suffix = f.suffix.lower()
    if suffix in OFFICE_TYPES:  # downloaded, opened by the user's Office program
        return FileResponse(f, media_type=OFFICE_TYPES[suffix], filename=f.name,
                            content_disposition_type="attachment",
                            headers={"X-Content-Type-Options": "nosniff"})
    pdf = suffix == ".pdf"  # anything else as plain text: an uploaded page never runs
    return FileResponse(f, media_type="application/pdf" if pdf else "text/plain; charset=utf-8",
                        filename=f.name, content_disposition_type="inline",
                        headers={"X-Content-Type-Options": "nosniff"})


@api.get("/documents/{doc_id}/pages/{page}.png", response_class=Response)
def page_image(doc_id: str, page: int, svc: Svc, quote: str = "") -> Response:
    """Page N of a PDF as a PNG, the `quote` highlighted where it stands (no box where it is not
    found); the sources panel shows it, a click opens the PDF at that page."""
    png = highlight.render_png(_pdf(svc, doc_id, page), page, quote[:MAX_QUOTE])
    return Response(png, media_type="image/png", headers=PRIVATE)


@api.get("/documents/{doc_id}/pages/{page}.json")
def page_boxes(doc_id: str, page: int, svc: Svc, quote: str = "") -> dict:
    """Where `quote` stands: per page its boxes in PDF points (x0, y0, x1, y1, origin bottom
    left) and in pixels of the page's image (origin top left); `found` false and no pages where
    it is not found."""
    return highlight.located(_pdf(svc, doc_id, page), page, quote[:MAX_QUOTE])


MAX_QUOTE = 4000  # characters of a quote looked up; a passage is shorter
PRIVATE = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}


def _pdf(svc: Service, doc_id: str, page: int) -> Path:
    f = svc.document_file(doc_id)
    if f is None:
        raise RequestError(404, f"Unbekanntes Dokument: {doc_id}")
    if f.suffix.lower() != ".pdf":
        raise RequestError(404, f"„{f.name}“ ist kein PDF: Seitenbilder gibt es nur für PDFs.")
    try:
        pages = highlight.page_count(f)
    except highlight.PageError as e:
        raise RequestError(422, str(e)) from e
    if not 1 <= page <= pages:
        raise RequestError(404, f"Seite {page} gibt es in „{f.name}“ nicht ({pages} Seiten).")
    return f


OFFICE_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}


@api.post("/feedback")
def feedback(req: FeedbackRequest, svc: Svc) -> dict:
    """Record 👍/👎 for an answer; the feedback file is a question set `assistant eval` reads."""
    answer = req.answer.model_dump(exclude_none=True)
    return svc.feedback(req.question, answer, req.liked, svc.check_mode(req.mode))


@v1.get("/models")
def models(svc: Svc) -> dict:
    """OpenAI-compatible model list: one model per available answer mode."""
    return {"object": "list", "data": [{"id": MODEL_PREFIX + m, "object": "model", "created": 0,
                                        "owned_by": "assistant"} for m in svc.modes()]}


@v1.post("/chat/completions", response_model=None)
def completions(req: CompletionRequest, svc: Svc) -> dict | StreamingResponse:
    """OpenAI-compatible chat; answers keep [n] markers and end with a short source list (off with
    "citations_in_content": false); `citations` carries the CLI schema."""
    mode = req.model.removeprefix(MODEL_PREFIX)
    if mode not in svc.modes():
        raise RequestError(404, f"Unbekanntes Modell „{req.model}“. Verfügbar: "
                           + ", ".join(MODEL_PREFIX + m for m in svc.modes()))
    question, history = split_messages(req.messages)
    parts = svc.stream(question, mode, history)
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": req.model}
    listed = svc.pipeline.settings.v1_sources_in_content if req.citations_in_content is None \
        else req.citations_in_content
    if req.stream:
        return StreamingResponse(sent(_chunks(parts, head, listed), parts),
                                 media_type="text/event-stream")
    answer = joined(parts)
    extra = {k: v for k, v in answer.to_json().items() if k != "answer"}
    content = answer.text + (source_list(answer) if listed else "")
    n, m = len(tokens(question)), len(tokens(content))  # words, not model tokens
    return {**head, "object": "chat.completion", "choices": [{
        "index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": n, "completion_tokens": m, "total_tokens": n + m}, **extra}


def _chunks(parts: Iterator[str | Answer], head: dict, listed: bool) -> Iterator[str]:
    chunk = {**head, "object": "chat.completion.chunk"}

    def delta(text: str) -> str:
        return sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                          "finish_reason": None}]})

    for p in parts:
        if isinstance(p, str):
            yield delta(p)
        else:
            if listed and (note := source_list(p)):
                yield delta(note)
            extra = {k: v for k, v in p.to_json().items() if k != "answer"}
            yield sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    yield "data: [DONE]\n\n"


def _docs_page(app: FastAPI) -> HTMLResponse:
    """A self-contained API page (Swagger UI would load its scripts from a CDN)."""
    rows = "".join(
        f"<tr><td>{m.upper()}</td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(op.get('description') or op.get('summary', ''))}</td></tr>"
        for path, ops in app.openapi()["paths"].items() for m, op in ops.items())
    return HTMLResponse(
        "<!doctype html><html lang='de'><meta charset='utf-8'><title>API – Offline-Assistent</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em .8em;border-bottom:1px solid #ddd;"
        "vertical-align:top}</style><h1>API des Offline-Assistenten</h1><p>Maschinenlesbar: "
        f"<a href='/openapi.json'>/openapi.json</a> (OpenAPI).</p><table>{rows}</table></html>")


def create_app(pipeline: Pipeline, feedback_path: Path | None = None, ui: bool = True) -> FastAPI:
    """The one app: REST under /api, OpenAI-compatible /v1, docs at /docs, the Gradio UI at /."""
    app = FastAPI(title="Offline-Assistent", docs_url=None, redoc_url=None,
                  description="Fragen an die eigenen Dokumente, jede Antwort mit Beleg.")
    path = feedback_path or Path(pipeline.settings.index_dir) / "feedback.jsonl"
    app.state.service = service = Service(pipeline, path)
    app.include_router(api)
    app.include_router(v1)
    install(app, pipeline.settings)  # German errors, body limits, API key, CORS
    app.get("/docs", include_in_schema=False)(lambda: _docs_page(app))
    if ui:
        from ui.app import mount_ui  # imports gradio (with its analytics switched off)

        mount_ui(app, service)
    return app


def serve(pipeline: Pipeline) -> int:
    """Run the app with uvicorn on the configured host and port until interrupted; print its URL
    once the port is ours. Refuses (exit code 2) to listen beyond loopback without an API key."""
    import socket

    import uvicorn

    host, port = pipeline.settings.host, pipeline.settings.port
    if problem := bind_problem(host, pipeline.settings.api_key):
        print(problem, file=sys.stderr)
        return 2
    app = create_app(pipeline)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        print(f"Port {port} auf {host} ist nicht verfügbar ({e.strerror}); bitte einen anderen mit "
              "--port wählen (make run PORT=…).", file=sys.stderr)
        return 1
    if pipeline.settings.api_key:
        print("Anmeldung mit API-Schlüssel: API als „Authorization: Bearer …“, im Browser als "
              "Passwort (Benutzername beliebig).", file=sys.stderr)
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "::1": "[::1]"}.get(host, host)
    print(f"Offline-Assistent läuft: http://{shown}:{port}/  (API: http://{shown}:{port}/docs · "
          "Beenden mit Strg+C)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0
