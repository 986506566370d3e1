"""Stage 5 with a language model: the model answers in its own words from passages [1]..[n], and
every sentence is verified against the passages it cites before anyone sees it.

The extractive answerer runs first (milliseconds): its evidence gate decides refusals in every
mode, and its answer is the fallback when the model refuses despite strong evidence or nothing
it says survives verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from assistant.citations import cite
from assistant.extractive import ExtractiveAnswerer
from assistant.generation import NO_ANSWER, Generator, build_messages
from assistant.types import Answer, Hit
from assistant.verify import verify


class LlmAnswerer:
    """Generate with the configured backend, verify each sentence, fall back to extractive."""

    def __init__(self, generator: Generator, fallback: ExtractiveAnswerer, max_tokens: int = 200,
                 temperature: float = 0.1, budget_tokens: int = 900) -> None:
        self.generator, self.fallback = generator, fallback
        self.max_tokens, self.temperature, self.budget_tokens = max_tokens, temperature, budget_tokens

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[dict] = ()) -> Answer:
        """A verified answer in the model's words, the extractive answer, or a refusal."""
        extractive = self.fallback.answer(question, hits)
        if extractive.refused:
            return extractive  # the evidence gate is the same in every mode
        messages = build_messages(question, [h.chunk.text for h in hits], history,
                                  self.budget_tokens)
        raw = "".join(self.generator.stream(messages, self.max_tokens, self.temperature)).strip()
        if not raw or NO_ANSWER.rstrip(".") in raw:
            return _fallback(extractive, "Das Sprachmodell lehnte ab, obwohl die Quellen passen.")
        text, check = verify(raw, hits)
        report = check.to_json() | {"model_answer": raw}
        if not text:
            return _fallback(extractive, "Keine Aussage des Sprachmodells war belegt.", report)
        text, citations = cite(text, hits)
        return Answer(text, citations, refused=False, verification=report | {"fallback": None})


def _fallback(extractive: Answer, why: str, report: dict | None = None) -> Answer:
    return replace(extractive, verification=(report or {}) | {"fallback": why})
