"""Stage 5b, the decision of the extractive answer: which evidence unit answers, and whether any
does. Two small linear models over the features of assistant.answer.units, fitted on labelled data
by bench/fit_answer_model.py (XQuAD-de answer spans, the tuning parts of our question sets,
questions paired with passages that lack the answer as negatives) and judged on held-out
parts. The weights, the refusal threshold and the figures they were chosen with live in
assistant/data/answer_model.toml.

- unit score = w . features (a listwise softmax ranker: the unit holding the answer should
  come first among all units of the retrieved passages);
- P(answerable) = sigmoid(v . question features): "no answer" is one calibrated decision,
  with one threshold, instead of a stack of refusal rules.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from assistant.answer.units import FEATURES, Unit
from assistant.retrieve.question import Question, missing_dates
from assistant.types import Hit

MODEL_FILE = Path(__file__).resolve().parents[1] / "data" / "answer_model.toml"


@dataclass(frozen=True)
class Evidence:
    """What describes the retrieved evidence as a whole, for the answer-or-refuse decision."""

    best: float  # the best unit's score
    margin: float  # its lead over the second best
    coverage: float  # the best unit's coverage of the question
    passage: float  # the best passage coverage of any unit's passage
    dense: float  # the best cosine similarity of any passage
    unknown: float  # share of the question's weight on nouns the corpus never mentions
    missing_date: float  # the question names a date or year no passage has
    type_missing: float  # asks when / how many / how much, and the best unit has no such value

    def vector(self) -> list[float]:
        return [getattr(self, f.name) for f in fields(self)]


EVIDENCE = tuple(f.name for f in fields(Evidence))


@dataclass(frozen=True)
class AnswerModel:
    """The fitted weights; `load()` reads them from the data file."""

    unit_weights: tuple[float, ...]
    evidence_weights: tuple[float, ...]
    evidence_bias: float
    threshold: float  # refuse when P(answerable) is below it
    embedder: str = ""  # the embedder whose cosine similarities the evidence model was fitted on
    dense_mean: float = 0.0  # their mean in the training data: used for any other embedder
    neutral_dense: bool = False  # set by for_embedder for another embedder

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
        unit, ev = d["unit"], d["evidence"]
        return cls(tuple(float(unit[k]) for k in FEATURES),
                   tuple(float(ev.get(k, 0.0)) for k in EVIDENCE),
                   float(ev["bias"]), float(d["threshold"]),
                   d.get("embedder", ""), float(d.get("dense_mean", 0.0)))

    def for_embedder(self, name: str) -> AnswerModel:
        """The model to use with embedder `name`. Cosine similarities of another embedder mean
        something else (another range), so its evidence sees the fitted mean instead: the
        decision then rests on the lexical evidence."""
        if not self.embedder or name == self.embedder:
            return self
        return replace(self, neutral_dense=True)

    def across_languages(self) -> AnswerModel:
        """The model for a question in another language than the passages: their cosine
        similarity is lower than the fitted one (an English question over German text), so
        the evidence sees the fitted mean instead, as for another embedder."""
        return replace(self, neutral_dense=True)

    def score(self, u: Unit) -> float:
        """How well a unit answers: higher is better (a logit of the listwise ranker)."""
        return sum(w * x for w, x in zip(self.unit_weights, u.features.vector(), strict=True))

    def answerable(self, e: Evidence) -> float:
        """P(the retrieved evidence answers the question)."""
        if self.neutral_dense:
            e = replace(e, dense=self.dense_mean)
        z = self.evidence_bias + sum(w * x for w, x in zip(self.evidence_weights, e.vector(),
                                                           strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def passage_context(h: Hit) -> str:
    """A passage with its title and heading path: a version's date may stand only there."""
    return f"{h.chunk.title}\n{h.chunk.section}\n{h.chunk.text}"


def evidence(q: Question, ranked: Sequence[tuple[float, Unit]], hits: Sequence[Hit]) -> Evidence:
    """The evidence features of a question, given its units ranked by score (best first)."""
    best_score, best = ranked[0]
    second = ranked[1][0] if len(ranked) > 1 else best_score - 5.0
    asks_value = q.kind in ("date", "count", "price")
    dense = [h.dense for h in hits if h.dense is not None]
    return Evidence(
        best=best_score,
        margin=min(best_score - second, 5.0),
        coverage=best.features.coverage,
        passage=max(u.features.passage for _, u in ranked),
        dense=max(dense, default=0.0),  # of any passage
        unknown=q.unknown_share(),
        missing_date=float(bool(missing_dates(q.text, [passage_context(h) for h in hits]))),
        type_missing=float(asks_value and not best.features.fits_type),
    )
