"""Stage 5 with a language model: the model answers in its own words from passages [1]..[n], and
every sentence is verified against the passages it cites before anyone sees it. The answer streams
sentence by sentence while the model writes: each sentence is checked as soon as it is complete
and shown at once if it holds, so the first one arrives after seconds, not after the whole answer.

The extractive answerer runs first (milliseconds): its evidence gate decides refusals in every
mode, and its answer is the fallback when the model refuses despite strong evidence or nothing
it says survives verification. It also guards completeness: when the question asks for names,
dates, places or numbers and the model's verified answer leaves out some that the evidence
sentences hold ("Wer nahm teil?" answered with one of four names), or when no sentence of the
model rests on one of the extractive answer's quotes (a true sentence from elsewhere), those
quotes are added verbatim, so a small model's answer never hides what the ranking found. The
model never reads an older version of a document beside the one in force (or asked for).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from assistant.answer.citations import Numbering, cite
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.generation import GenerationError, Generator
from assistant.answer.prompt import NO_ANSWER, build_messages, estimate_tokens
from assistant.answer.streaming import SentenceSplitter, joined, replay
from assistant.answer.units import Unit
from assistant.answer.verify import (
    FACT_WORD,
    SentenceCheck,
    Verification,
    check_sentence,
    claim_of,
    facts,
    prepare,
    support_span,
)
from assistant.retrieve.question import Question, analyze_question
from assistant.text.analyzer import analyze
from assistant.types import Answer, Hit

log = logging.getLogger(__name__)
MIN_WORDS = 3  # a shown sentence has at least a subject, a verb and what it says
# A German sentence begins with a capital letter, or with a name written in lower case: one with
# a digit, a capital, a dot, a hyphen or a slash inside ("ldap2bind", "iPXE", "debian-edu-config").
# "und sagen, dass das Skript …" or "um Ideen zu priorisieren." is a fragment, not a statement.
_FRAGMENT = re.compile(r"[a-zäöüß]+\b(?![\w.\-/])")
SUPPLEMENT = "Laut Quelle:"  # introduces evidence the model's answer left out, quoted verbatim
FACT_KINDS = ("person", "date", "place", "price", "count", "list", "identifier")
_NAME_AFTER = re.compile(r"\s+(?:[A-ZÄÖÜ][\w.-]+\s+){0,2}[A-ZÄÖÜ][\w-]+")


class LlmAnswerer:
    """Generate with the configured backend, verify each sentence, fall back to extractive."""

    def __init__(self, generator: Generator, fallback: ExtractiveAnswerer, max_tokens: int = 200,
                 temperature: float = 0.0, budget_tokens: int = 250,
                 answer_seconds: float = 0.0) -> None:
        self.generator, self.fallback = generator, fallback
        self.max_tokens, self.temperature, self.budget_tokens = max_tokens, temperature, budget_tokens
        self.answer_seconds = answer_seconds  # the model is stopped after this (0: never)

    @classmethod
    def from_settings(cls, generator: Generator, fallback: ExtractiveAnswerer, settings,
                      **changes) -> LlmAnswerer:
        """The answerer the settings describe (llm_max_tokens, _temperature, _budget_tokens,
        _answer_seconds), with `changes` to those arguments."""
        return cls(generator, fallback, **{
            "max_tokens": settings.llm_max_tokens, "temperature": settings.llm_temperature,
            "budget_tokens": settings.llm_budget_tokens,
            "answer_seconds": settings.llm_answer_seconds} | changes)

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[dict] = ()) -> Answer:
        """A verified answer in the model's words, the extractive answer, or a refusal: the
        joined `stream`."""
        return joined(self.stream(question, hits, history))

    def stream(self, question: str, hits: Sequence[Hit],
               history: Sequence[dict] = ()) -> Iterator[str | Answer]:
        """Each verified sentence as soon as the model has written it (markers numbered as in the
        final answer), then the Answer, whose text is exactly the pieces joined. Nothing is shown
        before the first sentence is known not to be the model's refusal."""
        extractive, ranked = self.fallback.decide(question, hits, history)
        if extractive.refused:
            yield from replay(extractive)  # the evidence gate is the same in every mode
            return
        numbers, texts = unit_context(ranked, hits, self.budget_tokens)
        messages = build_messages(question, texts, history, self.budget_tokens, numbers=numbers)
        shown, raw, report = CheckedSentences(hits, question), [], {}
        size = {"prompt_tokens": sum(estimate_tokens(m["content"]) for m in messages)}
        # a model process still loading: the time limit counts from when it can answer (if it
        # cannot, the stream below raises that again, and the extractive answer stands in)
        with contextlib.suppress(GenerationError):
            _wait_ready(self.generator)
        until = time.monotonic() + self.answer_seconds if self.answer_seconds > 0 else None
        pieces = _said_something(self.generator, messages, self.max_tokens, self.temperature)
        try:
            for sentence in _sentences(_until(pieces, until, report), raw):
                refusal = NO_ANSWER.rstrip(".") in sentence
                if refusal and not shown.pieces:
                    break  # stop the model: its refusal is never shown as an answer
                if (piece := shown.check(sentence, refusal)) is not None:
                    yield piece
        except GenerationError as e:  # the answer has begun: no HTTP error can be sent any more
            log.warning("Das Sprachmodell brach ab: %s", e)
            report["generation_error"] = str(e)
        finally:
            getattr(pieces, "close", lambda: None)()
        said = "".join(raw).strip()
        report |= shown.report() | {"model_answer": said} | size
        if not shown.pieces:
            yield from replay(_fallback(extractive, self._why_fallback(report, said), report))
            return
        spans = shown.quote_spans()  # every sentence the verifier relied on is in the quote
        evidence = _quotes(extractive, hits)
        added = self._omitted(question, evidence, " ".join(shown.kept), spans)
        for n, quote, _ in added:
            yield shown.show(f"{SUPPLEMENT} „{quote}“ [{n}]")
        for n, _, (i, j) in evidence:  # and so is the evidence the ranking found, shown or drawn on
            a, b = spans.get(n, (i, j))
            spans[n] = (min(a, i), max(b, j))
        _, citations = cite(" ".join(shown.kept), hits, spans)
        yield Answer("".join(shown.pieces), citations, refused=False, verification=report | {
            "fallback": None, "supplemented": [quote for _, quote, _ in added]})

    def _why_fallback(self, report: dict, said: str) -> str:
        """Why nothing of the model's is shown (the extractive answer stands in)."""
        if "generation_error" in report:
            return "Das Sprachmodell brach ab."
        if report.get("stopped_at_time_limit"):
            return f"Das Sprachmodell schrieb in {self.answer_seconds:g} s keine belegte Aussage."
        if not said or NO_ANSWER.rstrip(".") in said:
            return "Das Sprachmodell lehnte ab, obwohl die Quellen passen."
        return "Keine Aussage des Sprachmodells war belegt."

    def _omitted(self, question: str, quotes: list[Quote], text: str,
                 relied_on: dict[int, tuple[int, int]]) -> list[Quote]:
        """Extractive evidence the model's answer leaves out: the quotes with asked-for facts it
        does not say, and those its sentences do not rest on as a whole (`relied_on`: the span
        of each passage the verifier found its sentences in), so an answer drawn from other
        evidence, or from one sentence of a quote ("Die Städte Halle (Saale), …" without "In zwei
        Staffeln wurden …"), never hides what the ranking found best."""
        q = analyze_question(question, self.fallback.stats)
        said = set(analyze(question)) | set(analyze(text))

        def drawn_on(n: int, span: tuple[int, int]) -> bool:
            rel = relied_on.get(n)
            return rel is not None and rel[0] <= span[0] and span[1] <= rel[1]
        return [(n, quote, span) for n, quote, span in quotes if not drawn_on(n, span)
                or q.kind in FACT_KINDS and any(not toks <= said for _, toks in asked_facts(q, quote))]


Quote = tuple[int, str, tuple[int, int]]  # passage number, verbatim quote, its span in the passage


def _quotes(extractive: Answer, hits: Sequence[Hit]) -> list[Quote]:
    """The extractive answer's quotes, with their passages' numbers and where they stand."""
    number = {h.chunk.id: n for n, h in enumerate(hits, 1)}
    out = []
    for c in extractive.citations:
        if c.chunk_id in number and (i := hits[number[c.chunk_id] - 1].chunk.text.find(c.quote)) >= 0:
            out.append((number[c.chunk_id], c.quote, (i, i + len(c.quote))))
    return out


def unit_context(ranked: Sequence[tuple[float, Unit]], hits: Sequence[Hit],
                 budget_tokens: int) -> tuple[list[int], list[str]]:
    """The model's sources: the best evidence units (as the extractive ranking scores them) that
    fit `budget_tokens`, grouped by passage and in passage order, each passage under its own
    number. A list item keeps the lead-in it brings, a row its header. Far fewer tokens than
    whole passages (prompt reading is most of the llm mode's wait), and only text that answers.
    """
    spans: dict[int, set[tuple[int, int]]] = {}
    leads: dict[int, str] = {}
    left = budget_tokens
    current = [(s, u) for s, u in ranked if not u.features.superseded]
    for _, u in current or ranked:  # an older version only when nothing else was retrieved
        new = [sp for sp in u.spans() if sp not in spans.get(u.rank, set())]
        if not new:
            continue
        text = hits[u.rank].chunk.text
        cost = sum(estimate_tokens(text[a:b]) + 1 for a, b in new) + (
            estimate_tokens(u.lead) if u.lead and u.rank not in leads else 0)
        if cost > left and spans:
            continue  # a smaller unit further down may still fit
        spans.setdefault(u.rank, set()).update(new)
        if u.lead:
            leads.setdefault(u.rank, u.lead)
        left -= cost
        if left <= 0:
            break
    numbers, texts = [], []
    for r in sorted(spans):
        text, parts, end = hits[r].chunk.text, [], None
        for a, b in sorted(spans[r]):
            if end is not None:
                gap = text[end:a]
                parts.append(gap if a <= end or not gap.strip() else " … ")
            parts.append(text[max(a, end or 0):b])
            end = max(b, end or 0)
        body = "".join(parts).strip()
        numbers.append(r + 1)
        texts.append(f"{leads[r]} … {body}" if r in leads else body)
    return numbers, texts


def asked_facts(q: Question, quote: str) -> list[tuple[str, set[str]]]:
    """The facts of `quote` of the kind the question asks for: numbers and dates for "Wann",
    "Wie viele", "Was kostet"; the names after a title ("Herr Kahlen") for "Wer"; the places of
    "in/aus/nach X" for "Wo"; every name of an enumeration for "Welche"; the command, version
    or file number for "Mit welchem Befehl", "Welche Version", "Welches Formular"."""
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
    inside = {w for a, b in spans for w in FACT_WORD.findall(quote[a:b])
              if not (q.kind == "person" and q.looks_like.fullmatch(w))}
    return [(f, t) for f, t in found if f in inside
            and (q.kind == "identifier" or not any(ch.isdigit() for ch in f))]


def _fallback(extractive: Answer, why: str, report: dict | None = None) -> Answer:
    return replace(extractive, verification=(report or {}) | {"fallback": why})


class CheckedSentences:
    """The sentences of one answer checked so far, and the pieces shown of them: renumbered by
    one `Numbering` in order, so they read exactly as `cite` numbers the whole answer."""

    def __init__(self, hits: Sequence[Hit], question: str = "") -> None:
        self.hits, self.asked = hits, frozenset(analyze(question))
        self.passages, self.numbering = prepare(hits), Numbering(len(hits))
        self.checks: list[SentenceCheck] = []
        self.kept: list[str] = []  # shown sentences with their passage numbers
        self.pieces: list[str] = []  # the same, as shown: renumbered, space-separated

    def check(self, raw: str, refusal: bool = False) -> str | None:
        """Verify one sentence; the piece to show if it is supported, else None (reported)."""
        c = check_sentence(raw, self.passages)
        if c is None:
            return None
        if c.supported and set(analyze(c.sentence)) <= self.asked:
            # "Wer nahm am 13. Juni 2016 teil? [1]" holds up, but says nothing the user did not
            c = replace(c, supported=False, unsupported_facts=("wiederholt nur die Frage",))
        elif c.supported and len(c.sentence.split()) < MIN_WORDS and not facts(c.sentence):
            # "Quellen [1]": a word or two and no fact is no statement ("Herr Kahlen [1]" is one)
            c = replace(c, supported=False, unsupported_facts=("kein Satz",))
        elif c.supported and _FRAGMENT.match(claim_of(c.sentence)):
            c = replace(c, supported=False, unsupported_facts=("kein ganzer Satz",))
        self.checks.append(replace(c, supported=False) if refusal else c)
        return self.show(c.shown) if self.checks[-1].supported else None

    def show(self, sentence: str) -> str:
        """`sentence` (with passage numbers) as the next piece of the answer."""
        self.kept.append(sentence)
        piece = self.numbering.apply(" " + sentence if self.pieces else sentence)
        self.pieces.append(piece if len(self.pieces) else piece.lstrip())
        return self.pieces[-1]

    def quote_spans(self) -> dict[int, tuple[int, int]]:
        """Per cited passage, the span that holds every shown sentence citing it."""
        claims: dict[int, list[str]] = {}
        for c in self.checks:
            if c.supported:
                for n in c.cited:
                    claims.setdefault(n, []).append(c.sentence)
        return {n: span for n, cs in claims.items()
                if (span := support_span(cs, self.hits[n - 1].chunk.text)) is not None}

    def report(self) -> dict:
        return Verification(tuple(self.checks)).to_json()


def warm_up(generator: Generator) -> None:
    """Let a model that has just started read the fixed system prompt once (one token
    written): its weights are paged in and the prompt stays in llama.cpp's cache, so the first
    question after a start is answered as fast as the rest (cold, its first token came after
    9 s). A failure is only logged: the question that follows reports it."""
    done = getattr(generator, "warmed", None)
    try:
        _process_ready(generator)
        for _ in generator.stream(build_messages("Wer?", ["Test."]), 1, 0.0):
            pass
    except GenerationError as e:
        log.warning("Das Sprachmodell ließ sich nicht vorwärmen: %s", e)
    finally:
        if done is not None:
            done.set()


def start_warm_up(generator: Generator) -> None:
    """`warm_up` in a thread of its own; questions wait for it (`_wait_ready`)."""
    generator.warmed = threading.Event()
    threading.Thread(target=warm_up, args=(generator,), name="model-warm-up", daemon=True).start()


WARM_UP_WAIT = 60.0  # seconds a question waits for the warm-up at most


def _process_ready(generator: Generator) -> None:
    """Wait for a local model process that is (re)starting; other backends are always ready."""
    getattr(generator, "wait_ready", lambda: None)()


def _wait_ready(generator: Generator) -> None:
    """Wait for the model process and for its warm-up: a question sent while the model still
    read the system prompt waited for it and then read its whole prompt anew (first token after
    8.5-10.7 s instead of about 2 s, and at times no answer at all)."""
    _process_ready(generator)
    warmed = getattr(generator, "warmed", None)
    if warmed is not None and not warmed.wait(WARM_UP_WAIT):
        log.warning("Das Sprachmodell ist nach %g s noch nicht vorgewärmt.", WARM_UP_WAIT)


def _said_something(generator: Generator, messages: list, max_tokens: int,
                    temperature: float) -> Iterator[str]:
    """The model's pieces, asked once more when it wrote nothing at all: the first question
    after a model start sometimes got an empty answer at temperature 0 (the first of a set in
    two of three full evals), and the extractive answer stood in for the model."""
    for attempt in range(2):
        said = False
        pieces = generator.stream(messages, max_tokens, temperature)
        try:
            for piece in pieces:
                said = said or bool(piece.strip())
                yield piece
        finally:
            getattr(pieces, "close", lambda: None)()
        if said:
            return
        if attempt == 0:
            log.info("Das Sprachmodell schrieb nichts; es wird noch einmal gefragt.")


def _until(pieces: Iterable[str], until: float | None, report: dict) -> Iterator[str]:
    """The model's pieces up to the answer's time limit (`until`, a monotonic time; None: no
    limit). A sentence the limit cuts off is not shown, as one the token limit cuts off."""
    for piece in pieces:
        yield piece
        if until is not None and time.monotonic() >= until:
            report["stopped_at_time_limit"] = True
            return


def _sentences(pieces: Iterable[str], raw: list[str]) -> Iterator[str]:
    """The sentences of a token stream, each as soon as it is complete; tokens land in `raw`."""
    splitter = SentenceSplitter()
    for piece in pieces:
        raw.append(piece)
        yield from splitter.feed(piece)
    yield from splitter.finish()
