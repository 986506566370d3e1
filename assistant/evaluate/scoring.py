"""Evaluation: question sets (JSONL, see evals/README.md), the check of one Answer, and the
metrics over a set: retrieval hit@k and MRR, answer correctness (key terms, token F1), citation
precision, unsupported facts shown, refusal precision and recall, and latency.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.answer.citations import MARKER, citing_sentence
from assistant.answer.llm_answer import SUPPLEMENT
from assistant.answer.verify import claim_of, facts
from assistant.text.analyzer import analyze
from assistant.text.normalize import normalize
from assistant.text.sentences import sentence_spans
from assistant.types import Answer, Chunk, Hit


@dataclass(frozen=True)
class Item:
    """One evaluation question with what a correct answer must show."""

    id: str
    question: str
    terms: tuple[tuple[str, ...], ...] = ()
    quote: str = ""
    page: int | None = None
    refuse: bool = False
    reference: str = ""  # optional reference answer, for token F1
    turns: tuple[str, ...] = ()  # earlier user questions of a multi-turn item, oldest first
    note: str = ""
    doc: str = ""  # a citation must come from this file (name, as in the source path)
    docs: tuple[str, ...] = ()  # each of these files must be cited (two-document questions)
    not_doc: str = ""  # no citation may come from this file (a neighbouring version or id)
    kind: str = ""  # what the question needs: fact, list, table, caption, version, ... (reported)
    held_out: bool = False  # never looked at while tuning; reported on its own

    @property
    def history(self) -> list[dict]:
        """The earlier turns as chat messages."""
        return [{"role": "user", "content": t} for t in self.turns]


@dataclass
class Verdict:
    """The outcome for one item: what was asked, answered and retrieved, and what was wrong."""

    item: Item
    answer: Answer
    problems: list[str] = field(default_factory=list)
    hits: Sequence[Hit] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", normalize(s)).strip().lower()


def _chunk_matches(item: Item, c: Chunk) -> bool:
    """The expected page (if the item names one), else the expected quote, is in the chunk."""
    if item.page is not None:
        return c.page is not None and c.page <= item.page <= (c.page_end or c.page)
    if item.doc and not item.quote:
        return _file(c.source) == item.doc
    return _norm(item.quote) in _norm(c.text)


def check(item: Item, answer: Answer, hits: Sequence[Hit] = (), seconds: float = 0.0) -> Verdict:
    """Compare an answer with the item's expectations."""
    v = Verdict(item, answer, hits=hits, seconds=seconds)
    if item.refuse != answer.refused:
        v.problems.append("hätte ablehnen müssen" if item.refuse else "unberechtigt abgelehnt")
        return v
    if item.refuse:
        return v
    text = answer.text.lower()
    for group in item.terms:
        if not any(t.lower() in text for t in group):
            v.problems.append(f"fehlt: {' / '.join(group)}")
    if item.page is not None and item.page not in [c.page for c in answer.citations]:
        v.problems.append(f"Seite {item.page} nicht zitiert (zitiert: {[c.page for c in answer.citations]})")
    if item.quote and not any(_norm(item.quote) in _norm(c.quote) for c in answer.citations):
        v.problems.append(f"Zitat nicht belegt: {item.quote!r}")
    cited = {_file(c.source) for c in answer.citations}
    for want in (item.doc, *item.docs):
        if want and want not in cited:
            v.problems.append(f"Dokument {want} nicht zitiert (zitiert: {sorted(cited)})")
    # a passage quoted only to show what another version says is no citation of that version
    if item.not_doc and item.not_doc in {_file(c.source) for c in answer.citations
                                         if not c.other_version}:
        v.problems.append(f"Dokument falsch zitiert: {item.not_doc}")
    v.problems += [f"nicht belegt gezeigt: {f}" for f in unsupported_facts(answer, hits)]
    v.problems += [f"nicht im Zitat: {f}" for f in facts_outside_quotes(answer, hits)]
    return v


def _file(source: str) -> str:
    return source.replace("\\", "/").rsplit("/", 1)[-1]


def unsupported_facts(answer: Answer, hits: Sequence[Hit]) -> list[str]:
    """Names, numbers and dates shown in an answer that none of its cited passages contains: an
    audit of what the user saw, independent of how the answer was made (the llm mode's verifier
    is stricter; this must stay empty in every mode)."""
    if answer.refused or not hits:
        return []
    texts = {h.chunk.id: f"{h.chunk.lead}\n{h.chunk.text}" for h in hits}
    return _facts_outside(answer, [texts.get(c.chunk_id, c.quote) for c in answer.citations])


def _claims(text: str) -> list[str]:
    """The claims of an answer as the user reads them: a [n] marker ends one ("1. Halle [1]
    2. Gütersloh [1]": the 2 numbers an item, it is no fact), then each sentence without a list
    item's number; "Laut Quelle:" is our wording, not a claim."""
    pieces = MARKER.split(text.replace(SUPPLEMENT, " "))[::2]  # [1::2] are the marker numbers
    return [claim_of(piece[a:b].strip()) for piece in pieces for a, b in sentence_spans(piece)]


def facts_outside_quotes(answer: Answer, hits: Sequence[Hit]) -> list[str]:
    """Names, numbers and dates of the answer that stand in a cited passage but in none of the
    quotes shown with it (nor in the lead-in or header the answer repeats): a user who checks
    the quotes cannot see where they come from."""
    if answer.refused or not answer.citations or not hits:
        return []
    leads = {h.chunk.id: h.chunk.lead for h in hits}
    return _facts_outside(answer, [f"{leads.get(c.chunk_id, '')}\n{c.quote}"
                                   for c in answer.citations])


def _facts_outside(answer: Answer, texts: Sequence[str]) -> list[str]:
    """The names, numbers and dates of the answer's claims that none of `texts` holds."""
    pool = set().union(*(analyze(t) for t in texts))
    return [f for claim in _claims(answer.text) for f, toks in facts(claim) if not toks <= pool]


def right_source(v: Verdict) -> bool:
    """Refused when it should, or answered citing the expected page (else the expected quote)."""
    if v.item.refuse or v.answer.refused:
        return v.item.refuse == v.answer.refused
    kind = ("Seite",) if v.item.page is not None else ("Zitat", "Dokument")
    return not any(p.startswith(kind) for p in v.problems)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 over analyzed German tokens."""
    pred, ref = analyze(prediction, keep_stopwords=True), analyze(reference, keep_stopwords=True)
    common = sum(min(pred.count(t), ref.count(t)) for t in set(pred))
    if not pred or not ref or not common:
        return 0.0
    p, r = common / len(pred), common / len(ref)
    return 2 * p * r / (p + r)


def citation_precision(answer: Answer) -> float | None:
    """Share of citations whose quote contains most content words of the sentence citing it."""
    if not answer.citations:
        return None
    quotes = {c.n: set(analyze(c.quote)) for c in answer.citations}
    good = total = 0
    for m in re.finditer(r"\[(\d+)\]", answer.text):
        total += 1
        words = set(analyze(citing_sentence(answer.text, m.start())))
        good += bool(words) and len(words & quotes.get(int(m.group(1)), set())) >= 0.5 * len(words)
    return good / total if total else None


def evaluate(ask_with_hits, items: Sequence[Item], k: int = 5) -> list[Verdict]:
    """Ask every item (ask_with_hits(question, history) -> (Answer, hits)) and check it."""
    verdicts = []
    for it in items:
        t = time.perf_counter()
        answer, hits = ask_with_hits(it.question, it.history)
        verdicts.append(check(it, answer, hits[:k], time.perf_counter() - t))
    return verdicts


def metrics(verdicts: Sequence[Verdict]) -> dict:
    """Aggregate figures over a set of verdicts."""
    answerable = [v for v in verdicts if not v.item.refuse]
    sourced = [v for v in answerable if v.item.quote or v.item.page is not None or v.item.doc]
    ranks = [next((i for i, h in enumerate(v.hits) if _chunk_matches(v.item, h.chunk)), None)
             for v in sourced]
    refused = [v for v in verdicts if v.answer.refused]
    should = [v for v in verdicts if v.item.refuse]
    precisions = [p for v in answerable if (p := citation_precision(v.answer)) is not None]
    f1s = [token_f1(v.answer.text, v.item.reference) for v in answerable if v.item.reference]
    secs = sorted(v.seconds for v in verdicts)

    def share(xs) -> float | None:
        xs = list(xs)
        return round(sum(xs) / len(xs), 4) if xs else None

    return {
        "items": len(verdicts),
        "passed": sum(v.ok for v in verdicts),
        "pass_rate": share(v.ok for v in verdicts),
        "hit@1": share(r == 0 for r in ranks),
        "hit@5": share(r is not None and r < 5 for r in ranks),
        "mrr": share((1 / (r + 1)) if r is not None else 0.0 for r in ranks),
        "source_cited": share(right_source(v) for v in sourced if not v.answer.refused),
        "right_source_or_refusal": share(right_source(v) for v in verdicts),
        "key_terms": share(not any(p.startswith("fehlt") for p in v.problems)
                           for v in answerable if not v.answer.refused),
        "token_f1": share(f1s),
        "citation_precision": share(precisions),
        "unsupported_facts_shown": sum(p.startswith("nicht belegt gezeigt") for v in verdicts
                                       for p in v.problems),
        "facts_outside_quotes": sum(p.startswith("nicht im Zitat") for v in verdicts
                                    for p in v.problems),
        "extractive_fallback": share(bool((v.answer.verification or {}).get("fallback"))
                                     for v in verdicts if not v.answer.refused)
        if any(v.answer.verification for v in verdicts) else None,
        "refusal_precision": share(v.item.refuse for v in refused),
        "refusal_recall": share(v.answer.refused for v in should),
        "latency_p50_ms": round(1000 * statistics.median(secs), 1) if secs else None,
        "latency_p95_ms": round(1000 * secs[int(0.95 * (len(secs) - 1))], 1) if secs else None,
    }
