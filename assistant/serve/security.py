"""The web edge's guards: who may call (API key), how much a request may send (body limits), which
origins may call from a browser (CORS), and German error bodies for every refusal, in the
OpenAI error shape under /v1/.

Pure ASGI middleware: a refused request is answered before its body is read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.serve.service import RequestError
from assistant.settings import Settings

OPEN_PATHS = ("/api/health",)
JSON_LIMIT = 2**20  # a JSON body: 500 times the longest question, with room for a chat history
MULTIPART_OVERHEAD = 2**16
REALM = 'realm="Offline-Assistent"'
NO_KEY = "Anmeldung erforderlich: bitte den API-Schlüssel als „Authorization: Bearer <Schlüssel>“ senden."
WRONG_KEY = "Der API-Schlüssel ist ungültig."
HTTP_MESSAGES = {404: "Nicht gefunden.", 405: "Diese Methode ist hier nicht erlaubt.",
                 413: "Anfrage zu groß.", 415: "Dieser Inhaltstyp wird nicht unterstützt."}
VALIDATION = {
    "missing": "fehlt", "json_invalid": "ist kein gültiges JSON", "string_type": "muss Text sein",
    "bool_type": "muss true oder false sein", "bool_parsing": "muss true oder false sein",
    "list_type": "muss eine Liste sein", "dict_type": "muss ein Objekt sein",
    "model_attributes_type": "muss ein Objekt sein", "model_type": "muss ein Objekt sein",
    "int_type": "muss eine ganze Zahl sein", "int_parsing": "muss eine ganze Zahl sein",
    "string_unicode": "muss gültiger Unicode-Text sein", "extra_forbidden": "ist nicht vorgesehen",
}


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_problem(host: str, api_key: str) -> str | None:
    """Why the app must not start on `host` with this key (German), or None if it may."""
    if not api_key:
        return None if is_loopback(host) else (
            f"Auf {host} wäre der Assistent von anderen Rechnern erreichbar: bitte einen "
            "API-Schlüssel setzen (ASSISTANT_API_KEY, mindestens 16 Zeichen) oder nur auf "
            "127.0.0.1 starten.")
    if len(api_key) < 16:
        return "Der API-Schlüssel ist zu kurz: bitte mindestens 16 Zeichen (ASSISTANT_API_KEY)."
    if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
        return ("Der API-Schlüssel darf nur ASCII-Zeichen ohne Leerzeichen enthalten (er wird als "
                "HTTP-Kopfzeile gesendet).")
    return None


def error_body(path: str, message: str, code: str | None = None) -> dict:
    """A refusal's body: {"detail": …}, or the OpenAI error shape under /v1/."""
    if path.startswith("/v1/"):
        return {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return {"detail": message}


async def _refuse(scope: Scope, send: Send, status: int, message: str, headers: dict | None = None,
                  code: str | None = None) -> None:
    response = JSONResponse(error_body(scope["path"], message, code), status, headers=headers)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _presented_key(scope: Scope) -> str | None:
    """The key in `Authorization: Bearer <key>`, or the password of Basic auth (browsers)."""
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return None


class ApiKeyMiddleware:
    """With a key set, every path but /api/health needs it: API clients as Bearer, browsers (the
    UI at / and the file links it opens) as the password of Basic auth, which they prompt for."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app, self.key = app, api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = _presented_key(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.key):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        api = scope["path"].startswith(("/api/", "/v1/"))
        challenge = f"Bearer {REALM}" if api else f'Basic {REALM}, charset="UTF-8"'
        await _refuse(scope, send, 401, NO_KEY if given is None else WRONG_KEY,
                      {"WWW-Authenticate": challenge}, "invalid_api_key")


class _TooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTPExceptions on to the handler below."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message, {"Connection": "close"})


class BodyLimitMiddleware:
    """Caps request bodies under /api and /v1: uploads at the upload limit plus multipart framing,
    everything else at JSON_LIMIT. A declared Content-Length over the cap is refused unread; a
    body without one is counted while it streams in and refused once it passes the cap."""

    def __init__(self, app: ASGIApp, max_upload: int) -> None:
        self.app, self.max_upload = app, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/v1/")):
            return await self.app(scope, receive, send)
        upload = scope["path"].rstrip("/") == "/api/documents"
        cap = self.max_upload + MULTIPART_OVERHEAD if upload else JSON_LIMIT
        message = (f"Datei zu groß (höchstens {self.max_upload // 2**20} MB)." if upload else
                   f"Anfrage zu groß (höchstens {JSON_LIMIT // 1024} kB).")
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            return await _refuse(scope, send, 413, message, {"Connection": "close"})
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > cap:
                raise _TooLarge(message)
            return msg

        async def watched(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except* _TooLarge:
            if started:
                raise
            await _refuse(scope, send, 413, message, {"Connection": "close"})


def _where(loc: tuple) -> str:
    tags = {"str", "int", "float", "bool", "dict", "list", "none"}  # union members, not fields
    parts = [str(p) for p in loc if p != "body" and str(p) not in tags and "[" not in str(p)]
    return "„" + ".".join(parts) + "“" if parts else "Der Inhalt"


def validation_message(errors: list[dict]) -> str:
    """FastAPI's validation errors as one German sentence per problem."""
    said = []
    for e in errors[:5]:
        if e.get("type") == "json_invalid":
            said.append("Der Inhalt ist kein gültiges JSON.")
        elif tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes):
            said.append("Bitte JSON senden (Content-Type: application/json).")  # form, text, …
        else:
            reason = VALIDATION.get(e.get("type", ""), "ist ungültig")
            field = _where(tuple(e.get("loc", ())))
            said.append(f"{'Feld ' if field.startswith('„') else ''}{field} {reason}.")
    return "Ungültige Anfrage: " + " ".join(dict.fromkeys(said))


def _no_route(request: Request) -> None:
    """Unknown paths under /api and /v1 (which the UI mounted at / would answer in English)."""
    wrong_method = any(r.matches(request.scope)[0] == Match.PARTIAL for r in request.app.router.routes)
    raise RequestError(405, HTTP_MESSAGES[405]) if wrong_method else RequestError(404, HTTP_MESSAGES[404])


def install(app: FastAPI, settings: Settings) -> None:
    """German error handlers, the body limits, the API key (if set) and CORS (if configured).
    Call after the API routes are included and before the UI is mounted."""
    for prefix in ("/api", "/v1"):
        app.add_api_route(prefix + "/{rest:path}", _no_route, include_in_schema=False,
                          methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])

    @app.exception_handler(RequestError)
    def _refused(request: Request, e: RequestError) -> JSONResponse:
        return JSONResponse(error_body(request.url.path, str(e)), e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(request.url.path, validation_message(list(e.errors()))), 422)

    @app.exception_handler(HTTPException)
    def _http(request: Request, e: HTTPException) -> JSONResponse:
        own = isinstance(e, _TooLarge)
        message = str(e.detail) if own else HTTP_MESSAGES.get(e.status_code, str(e.detail))
        return JSONResponse(error_body(request.url.path, message), e.status_code, headers=e.headers)

    app.add_middleware(BodyLimitMiddleware, max_upload=settings.max_upload_mb * 2**20)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    if settings.cors_origins:  # outermost: a preflight carries no key
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
