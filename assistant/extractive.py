"""Stage 5 without a model: answer with the sentences of the top passages that best answer the
question, each cited, or refuse when the evidence is weak.

Sentence score = weighted coverage of the question's terms (assistant.question) plus a bonus
when the sentence has what the question word asks for (a person for "Wer", a date for "Wann",
a number for "Wie viele"), plus a bonus for its passage's rank by dense similarity, plus the
passage's own coverage of the question's terms (weighted by passage_weight). The best
sentence is extended by its continuation (a sentence ending in a colon is one unit with the
next; a next sentence opening with "Darin", "Dabei", ... is added, and for a task question
("Wie kann ich ...?") the next sentence in any case; a best sentence pointing back, "Von dieser
Maschine aus ...", gets the one before), by a neighbour that
supplies the asked-for type, and by sentences that add coverage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.citations import cite, passage_citation
from assistant.question import Question, TermStats, analyze_question, missing_dates
from assistant.text import analyze, sentence_spans
from assistant.types import Answer, Hit

REFUSAL = "Dazu enthalten die Quellen keine Angaben."
_PROSE_END = re.compile(r"[.!?:;)\"“”]$")
# A sentence that points back to the one before it: "Darin wurde ...", "Dies erlaubt ...",
# "Von dieser Maschine aus ...", "Außerdem ...".
_POINTS_BACK = re.compile(r"^(?:(?:von|auf|in|mit|bei|aus|an|nach|zu)\s+)?(?:diese[rsmn]?|dies|dort|"
                          r"dann|darin|damit|dabei|dazu|daher|deshalb|hierzu|hierbei|hierfür|dafür|"
                          r"außerdem|zudem|ferner)\b", re.I)


@dataclass(frozen=True)
class _Sentence:
    rank: int  # 0-based rank of the passage
    span: tuple[int, int]  # in the passage text
    terms: frozenset[str]
    fits_type: bool
    score: float


class ExtractiveAnswerer:
    """Answers from the passages' own sentences; needs corpus term statistics, nothing else."""

    def __init__(self, stats: TermStats, max_sentences: int = 3, min_dense: float = 0.82,
                 min_coverage: float = 0.5, rescue_dense: float = 1.0,
                 min_unknown: float = 0.25, rank_prior: float = 0.6,
                 passage_weight: float = 0.6) -> None:
        self.min_unknown, self.rank_prior, self.passage_weight = min_unknown, rank_prior, passage_weight
        self.stats, self.max_sentences = stats, max_sentences
        self.min_dense, self.min_coverage, self.rescue_dense = min_dense, min_coverage, rescue_dense

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[dict] = ()) -> Answer:
        """A short cited answer built from verbatim sentences, or a refusal with the closest passages."""
        q = analyze_question(question, self.stats)
        priors = _priors(hits, self.rank_prior)
        sentences = [s for r, h in enumerate(hits)
                     for s in _sentences(q, r, h, priors[r], self.passage_weight)]
        if not sentences:
            return refusal(hits)
        chosen = self._select(q, sentences, hits)
        reason = self._refusal_reason(q, chosen, hits)
        if reason is not None:
            return refusal(hits, about=reason)
        return _compose(chosen, hits)

    def _refusal_reason(self, q: Question, chosen: list[_Sentence],
                        hits: Sequence[Hit]) -> str | None:
        """Why the evidence is too weak to answer ('' = no specific reason), or None to answer."""
        missing = missing_dates(q.text, [h.chunk.text for h in hits])
        if missing:
            return missing
        coverage = q.coverage(set().union(*(s.terms for s in chosen)))
        best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        if q.kind in ("date", "count", "price") and not any(s.fits_type for s in chosen):
            return ""  # asked when, how many or how much, and no chosen sentence says it
        if q.unknown_share() >= self.min_unknown and coverage < self.min_coverage \
                and best_dense < self.rescue_dense:
            return ""  # the question is about something the corpus never mentions
        if best_dense < self.min_dense and coverage < self.min_coverage:
            return ""  # neither similar nor sharing the question's terms
        return None

    def _select(self, q: Question, sentences: list[_Sentence],
                hits: Sequence[Hit]) -> list[_Sentence]:
        # A typed question ("Welche ...", "Wann ...") prefers a sentence of the asked-for type
        # among those that are at least somewhat on topic.
        ranked = sorted(sentences, key=lambda s: (-(s.fits_type and q.coverage(s.terms) >= 0.25),
                                                  -s.score))
        best = ranked[0]
        chosen = [best]
        nxt = _following(best, sentences, hits[best.rank].chunk.text)
        if nxt and (_POINTS_BACK.match(hits[best.rank].chunk.text[nxt.span[0]:]) or q.kind == "task"):
            # "... einen Brief gesendet. Darin wurde ...", and for "Wie kann ich ...?" the
            # instruction after the sentence naming the situation ("... eine Firmware. In diesem
            # Fall muss ...")
            chosen.append(nxt)
        covered = set().union(*(s.terms for s in chosen))
        for s in ranked[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if s in chosen:
                continue
            text = hits[s.rank].chunk.text
            adjacent = any(c.rank == s.rank and _adjacent(c, s, text) for c in chosen)
            gain = q.coverage(covered | s.terms) - q.coverage(covered)
            completes = q.looks_like is not None and s.fits_type and adjacent
            if gain >= 0.2 and (adjacent or s.score >= 0.6 * best.score) or completes:
                chosen.append(s)
                covered |= s.terms
        # A best sentence that points back ("Von dieser Maschine aus ...", "Dies erlaubt ...")
        # needs the sentence it points to, and so on while there is room.
        text, cur = hits[best.rank].chunk.text, best
        while len(chosen) < self.max_sentences and _POINTS_BACK.match(text[cur.span[0]:]):
            prev = _preceding(cur, sentences, text)
            if prev is None or prev in chosen:
                break
            chosen.append(prev)
            cur = prev
        return sorted(chosen, key=lambda s: (s.rank, s.span))


def _units(text: str) -> list[tuple[int, int]]:
    """Sentence spans, with a sentence ending in a colon joined to the one it announces."""
    units: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        if units and text[units[-1][1] - 1] == ":" and not text[units[-1][1]:a].strip():
            units[-1] = (units[-1][0], b)
        else:
            units.append((a, b))
    return units


def _priors(hits: Sequence[Hit], rank_prior: float) -> list[float]:
    """Each passage's bonus for its sentences: rank_prior / (1 + its rank by dense similarity).

    The dense rank, not the fused one: BM25 lifts passages that share the question's words,
    which the coverage terms already reward; on the handbook set this chose the right page for
    65 of 75 questions instead of 62 (before the passage coverage term). With passage_weight
    0.6, rank_prior 0.6 is the middle of a plateau: 68 of 75 for passage_weight 0.5-0.7."""
    order = sorted(range(len(hits)), key=lambda r: (-(hits[r].dense or 0.0), r))
    by_dense = {r: i for i, r in enumerate(order)}
    return [rank_prior / (1 + by_dense[r]) for r in range(len(hits))]


def _sentences(q: Question, rank: int, hit: Hit, prior: float,
               passage_weight: float) -> list[_Sentence]:
    text = hit.chunk.text
    # The passage's own coverage: an answer sentence often leaves the question's topic to its
    # heading or the sentence before ("Dieses Konto ... auf 700 gesetzt").
    context = passage_weight * q.coverage(frozenset(analyze(text)))
    out = []
    for a, b in _units(text):
        terms = frozenset(analyze(text[a:b]))
        fits = bool(q.looks_like and q.looks_like.search(text[a:b]))
        score = q.coverage(terms) + (0.25 if fits else 0.0) + prior + context
        if not _PROSE_END.search(text[a:b]):
            score *= 0.5  # headings, captions and link labels name topics, they rarely answer
        out.append(_Sentence(rank, (a, b), terms, fits, score))
    return out


def _adjacent(a: _Sentence, b: _Sentence, text: str) -> bool:
    """Neighbouring sentences of the same paragraph (nothing but spaces between them)."""
    first, second = sorted((a.span, b.span))
    gap = text[first[1]:second[0]]
    return not gap.strip() and "\n" not in gap


def _following(s: _Sentence, sentences: list[_Sentence], text: str) -> _Sentence | None:
    """The sentence right after `s` in the same passage, across a line break."""
    after = [x for x in sentences if x.rank == s.rank and x.span[0] >= s.span[1]]
    first = min(after, key=lambda x: x.span[0], default=None)
    return first if first and not text[s.span[1]:first.span[0]].strip() else None


def _preceding(s: _Sentence, sentences: list[_Sentence], text: str) -> _Sentence | None:
    """The sentence right before `s` in the same passage, across a line break."""
    before = [x for x in sentences if x.rank == s.rank and x.span[1] <= s.span[0]]
    last = max(before, key=lambda x: x.span[1], default=None)
    return last if last and not text[last.span[1]:s.span[0]].strip() else None


def _compose(chosen: list[_Sentence], hits: Sequence[Hit]) -> Answer:
    """Join the chosen sentences, one [n] marker per passage run, and cite verbatim spans."""
    parts: list[str] = []
    quotes: dict[int, tuple[int, int]] = {}
    for i, s in enumerate(chosen):
        n = s.rank + 1
        parts.append(hits[s.rank].chunk.text[s.span[0]:s.span[1]])
        a, b = quotes.get(n, s.span)
        quotes[n] = (min(a, s.span[0]), max(b, s.span[1]))
        if i + 1 == len(chosen) or chosen[i + 1].rank != s.rank:
            parts[-1] += f" [{n}]"
    text, citations = cite(" ".join(parts), hits, quotes)
    return Answer(text, citations, refused=False)


def refusal(hits: Sequence[Hit], about: str = "") -> Answer:
    """The German refusal, with the closest passages so the user can judge for themselves."""
    text = f"Zu „{about}“ enthalten die Quellen keine Angaben." if about else REFUSAL
    if hits:
        text += " Am nächsten kommen diese Passagen."
    closest = tuple(passage_citation(i + 1, h) for i, h in enumerate(hits[:3]))
    return Answer(text, (), refused=True, closest=closest)
