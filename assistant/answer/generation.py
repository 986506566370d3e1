"""The generator: chat messages in, answer text out token by token.

One `Generator` protocol; its backend here speaks to any OpenAI-compatible HTTP endpoint
(Ollama, vLLM, llama.cpp server, OpenAI), and the packaged local model is such a server in a
supervised process of its own (assistant.answer.model_process). The prompt is made in assistant.answer.prompt;
the extractive mode needs no generator at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import httpx

Message = dict[str, str]

class GenerationError(RuntimeError):
    """A backend failed to produce an answer (server unreachable, HTTP error, bad stream)."""


class Generator(Protocol):
    """Streams the answer to chat `messages`; joining the stream gives the full answer."""

    name: str

    def stream(self, messages: list[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        """Yield answer text pieces as the backend produces them."""
        ...


class OpenAICompatGenerator:
    """Any server speaking the OpenAI chat-completions API with server-sent events."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 120.0,
                 frequency_penalty: float = 0.2, extra: Mapping[str, Any] | None = None) -> None:
        self.name = f"openai:{model}"
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.frequency_penalty = frequency_penalty  # the portable cousin of repeat_penalty
        self.extra = dict(extra or {})  # server-specific fields, e.g. {"repeat_penalty": 1.1}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)

    def stream(self, messages: list[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        """POST the request with stream=true and yield each delta's content."""
        body = {"model": self.model, "messages": messages, "stream": True,
                "max_tokens": max_tokens, "temperature": temperature,
                "frequency_penalty": self.frequency_penalty, **self.extra}
        try:
            with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode(errors="replace")[:300]
                    raise GenerationError(
                        f"Der Sprachmodell-Server {self.url} antwortete mit HTTP "
                        f"{response.status_code}: {detail}")
                yield from _sse_content(response.iter_lines())
        except httpx.HTTPError as e:
            raise GenerationError(
                f"Der Sprachmodell-Server {self.url} ist nicht erreichbar oder brach ab: {e}") from e

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()


def _sse_content(lines: Iterator[str]) -> Iterator[str]:
    """The delta contents of an OpenAI server-sent-event stream, up to `data: [DONE]`. A stream
    that ends without it was cut off (the server died mid-answer): that is an error, never a
    complete answer."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, ": keep-alive" comments, "event:" lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError as e:
            raise GenerationError(f"Unlesbare Antwort des Sprachmodell-Servers: {data[:200]}") from e
        if "error" in event:
            raise GenerationError(f"Fehler des Sprachmodell-Servers: {event['error']}")
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece
    raise GenerationError("Der Sprachmodell-Server brach die Antwort mittendrin ab.")
