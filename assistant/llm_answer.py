"""Stage 5 with a language model: the model answers in its own words from passages [1]..[n], and
every sentence is verified against the passages it cites before anyone sees it.

The extractive answerer runs first (milliseconds): its evidence gate decides refusals in every
mode, and its answer is the fallback when the model refuses despite strong evidence or nothing
it says survives verification. It also guards completeness: when the question asks for names,
dates, places or numbers and the model's verified answer leaves out some that the evidence
sentences hold ("Wer nahm teil?" answered with one of four names), those sentences are added
verbatim as a quote, so a small model's short answer never hides the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from assistant.citations import cite
from assistant.extractive import ExtractiveAnswerer
from assistant.generation import NO_ANSWER, Generator, build_messages
from assistant.question import Question, analyze_question
from assistant.text import analyze
from assistant.types import Answer, Hit
from assistant.verify import facts, verify

FACT_KINDS = ("person", "date", "place", "price", "count", "list")
_NAME_AFTER = re.compile(r"\s+(?:[A-ZÄÖÜ][\w.-]+\s+){0,2}[A-ZÄÖÜ][\w-]+")
_WORD = re.compile(r"\w+(?:[-.]\w+)*")


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
        added = self._omitted(question, extractive, text, hits)
        text = " ".join([text] + [f"Laut Quelle: „{quote}“ [{n}]" for n, quote in added])
        spans = {n: (i, i + len(quote)) for n, quote in added
                 if (i := hits[n - 1].chunk.text.find(quote)) >= 0}
        text, citations = cite(text, hits, spans)  # a passage quoted in full is cited in full
        return Answer(text, citations, refused=False, verification=report | {
            "fallback": None, "supplemented": [quote for _, quote in added]})

    def _omitted(self, question: str, extractive: Answer, text: str,
                 hits: Sequence[Hit]) -> list[tuple[int, str]]:
        """Extractive evidence (passage number, quote) with asked-for facts the model left out."""
        q = analyze_question(question, self.fallback.stats)
        if q.kind not in FACT_KINDS:
            return []
        said = set(analyze(question)) | set(analyze(text))
        number = {h.chunk.id: n for n, h in enumerate(hits, 1)}
        out = []
        for c in extractive.citations:
            left_out = [f for f, toks in asked_facts(q, c.quote) if not toks <= said]
            if left_out and c.chunk_id in number:
                out.append((number[c.chunk_id], c.quote))
        return out


def asked_facts(q: Question, quote: str) -> list[tuple[str, set[str]]]:
    """The facts of `quote` of the kind the question asks for: numbers and dates for "Wann",
    "Wie viele", "Was kostet"; the names after a title ("Herr Kahlen") for "Wer"; the places of
    "in/aus/nach X" for "Wo"; every name of an enumeration for "Welche"."""
    found = facts(quote)
    if q.kind in ("date", "count", "price"):
        return [(f, t) for f, t in found if any(ch.isdigit() for ch in f)]
    if q.kind == "list":
        return found if quote.count(",") >= 2 else []
    if q.looks_like is None:
        return []
    if q.kind == "person":  # a title announces the name: the capitalized words right after it
        spans = [(m.end(), m.end() + len(n.group(0))) for m in q.looks_like.finditer(quote)
                 if (n := _NAME_AFTER.match(quote, m.end()))]
    else:
        spans = [m.span() for m in q.looks_like.finditer(quote)]
    inside = {w for a, b in spans for w in _WORD.findall(quote[a:b])
              if not (q.kind == "person" and q.looks_like.fullmatch(w))}
    return [(f, t) for f, t in found if f in inside and not any(ch.isdigit() for ch in f)]


def _fallback(extractive: Answer, why: str, report: dict | None = None) -> Answer:
    return replace(extractive, verification=(report or {}) | {"fallback": why})
