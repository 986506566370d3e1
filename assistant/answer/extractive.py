"""Stage 5 without a model: answer with whole evidence units of the top passages, each cited, or
refuse when the evidence does not answer.

The units and their features come from assistant.answer.units (a sentence with what it depends on, a
list item with its lead-in, a table row with its header, a lead-in with its short list); the
decisions from assistant.answer.answer_model: the best-scoring unit answers, with the sentence after
it where that one continues it; a further unit joins when it scores within a set share of it
and adds question terms; and one calibrated probability decides whether to answer at all.
Where another retrieved version of a statute says the chosen point differently, a note quotes
it ("Abweichend davon die ältere Fassung: ..."), its citation marked `other_version`.
The answer's JSON says why (`why`): the unit's kind, score and features, and P(answerable)
against its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from assistant.answer.answer_model import AnswerModel, Evidence, evidence, passage_context
from assistant.answer.citations import cite, passage_citation
from assistant.answer.units import Unit, units
from assistant.retrieve.followup import asked_part, asked_parts
from assistant.retrieve.question import Question, TermStats, analyze_question, missing_dates
from assistant.text.analyzer import analyze
from assistant.text.versions import version_of
from assistant.types import Answer, Hit

REFUSAL = "Dazu enthalten die Quellen keine Angaben."
# A further unit joins the answer when its softmax weight is at least this share of the best
# unit's and it adds at least MIN_GAIN of the question's weight to what the answer covers (one
# rule for a unit from anywhere; both chosen on the tuning parts of the shipped sets, see
# docs/evaluation.md)
JOIN_SHARE = 0.1
MIN_GAIN = 0.04
# A unit the model marks as no answer of its own (a checklist question, a heading, a fragment,
# a footnote, an older version) never joins: it may add terms, but not what was asked.
JOIN_BLOCKERS = ("question", "heading_like", "fragment", "footnote", "superseded")
# A unit of another version of the same title says "the same" as a chosen unit when their words
# overlap this much (Jaccard) and no other unit of that version comes within VERSION_MARGIN: on
# the two versions of evals/statutes' Verwaltungsgebührensatzung this pairs all 11 changed
# sentences and rows that have a counterpart, and none of the 7 new or rewritten ones.
VERSION_MATCH, VERSION_MARGIN = 0.5, 0.15


class ExtractiveAnswerer:
    """Answers from the passages' own units; needs corpus term statistics and the fitted model."""

    def __init__(self, stats: TermStats, max_units: int = 3, model: AnswerModel | None = None,
                 threshold: float | None = None, embedder: str = "") -> None:
        self.stats, self.max_units = stats, max_units
        self.model = (model or AnswerModel.load()).for_embedder(embedder)
        self.threshold = self.model.threshold if threshold is None else threshold

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[dict] = ()) -> Answer:
        """A short cited answer built from verbatim units, or a refusal with the closest passages."""
        return self.decide(question, hits, history)[0]

    def decide(self, question: str, hits: Sequence[Hit], history: Sequence[dict] = ()
               ) -> tuple[Answer, list[tuple[float, Unit]]]:
        """The answer (or refusal) and every unit it was chosen from, best first (the llm mode
        builds its prompt from these). A follow-up resolved by the history is answered as a
        whole, but a further unit joins only for what the user's own words ask."""
        q = analyze_question(question, self.stats)
        ranked = self.rank(q, hits)
        if not ranked:
            return refusal(hits), ranked
        ev = evidence(q, ranked, hits)
        p = self._answerable(q, ev)
        # A date the question names and no passage holds is a veto, not a weight: no unit can
        # support an answer about it (the training data has too few such questions to learn it).
        if p < self.threshold or ev.missing_date:
            return refusal(hits, about=missing_dates(q.text, [passage_context(h) for h in hits]),
                           why=_why(None, ev, p, self.threshold)), ranked
        asked = asked_part(question, history)
        chosen = self._select(q if asked == question else analyze_question(asked, self.stats),
                              ranked)
        chosen = self._answer_parts(asked_parts(asked), hits, chosen)
        notes = version_notes(chosen, [u for _, u in ranked], hits)
        return _compose(chosen, hits, _why(ranked[0], ev, p, self.threshold), notes), ranked

    def _answer_parts(self, parts: list[str], hits: Sequence[Hit], chosen: list[Unit]
                      ) -> list[Unit]:
        """For a question joining several, each part is also answered as a question of its own:
        its best unit joins when the model finds that part answerable and the answer does not
        yet hold that unit."""
        if len(parts) < 2:
            return chosen
        for part in parts:
            q = analyze_question(part, self.stats)
            ranked = self.rank(q, hits)
            if q.looks_like is not None:  # "bis wann?": a unit holding a date answers it
                ranked = [su for su in ranked if su[1].features.fits_type] or ranked
            if not ranked or self._answerable(q, evidence(q, ranked, hits)) < self.threshold:
                continue
            best = ranked[0][1].with_case(q)
            if not _blocked(best) and not any(_overlaps(best, c) for c in chosen):
                chosen.append(best)
        return sorted(chosen, key=lambda u: (u.rank, u.span))

    def _answerable(self, q: Question, ev: Evidence) -> float:
        model = self.model.across_languages() if q.foreign else self.model
        return model.answerable(ev)

    def rank(self, q: Question, hits: Sequence[Hit]) -> list[tuple[float, Unit]]:
        """Every unit of the passages with its score, best first."""
        scored = [(self.model.score(u), u) for u in units(q, hits)]
        return sorted(scored, key=lambda su: (-su[0], su[1].rank, su[1].span))

    def _select(self, q: Question, ranked: list[tuple[float, Unit]]) -> list[Unit]:
        best_score, best = ranked[0]
        chosen = [best]
        covered = set(best.terms)
        nxt = _next_to(best, [u for _, u in ranked])
        # the sentence after the best one continues it when it depends on it ("... gesendet.
        # Darin wurde ..."), supplies what was asked ("... statt. Aus dem Rheinland nahm Herr
        # Kahlen teil"), or stays on its subject or the question's: what to do after a sentence
        # naming the asker's situation ("Falls ... DNS-Anfragen ... geblockt werden, ...
        # Aktualisieren Sie /etc/bind/named.conf.options, ... des DNS-Servers ...")
        if nxt is not None and not _blocked(nxt) and (
                nxt.features.points_back or q.looks_like is not None and nxt.features.fits_type
                or nxt.terms & (best.terms | q.terms())):
            chosen.append(nxt)
            covered |= nxt.terms
        for s, u in ranked[1:]:
            if len(chosen) >= self.max_units or math.exp(s - best_score) < JOIN_SHARE:
                break
            if any(_overlaps(u, c) for c in chosen) or _blocked(u):
                continue
            if q.coverage(covered | u.terms) - q.coverage(covered) >= MIN_GAIN:
                chosen.append(u)
                covered |= u.terms
        return sorted((u.with_case(q) for u in chosen), key=lambda u: (u.rank, u.span))


def _blocked(u: Unit) -> bool:
    """Whether a unit may not join an answer (JOIN_BLOCKERS; a list item or table row without a
    full stop is no heading)."""
    return any(getattr(u.features, f) for f in JOIN_BLOCKERS
               if not (f == "heading_like" and u.kind in ("item", "row")))


def _next_to(u: Unit, candidates: list[Unit]) -> Unit | None:
    """The sentence right after sentence `u` in its passage."""
    after = [c for c in candidates if c.rank == u.rank and c.span[0] >= u.spans()[-1][1]]
    nxt = min(after, key=lambda c: c.span[0], default=None)
    if nxt is None or not nxt.kind == u.kind == "sentence":
        return None
    return nxt


def _overlaps(a: Unit, b: Unit) -> bool:
    if a.rank != b.rank:
        return False
    return any(x < y2 and x2 < y for x, y in a.spans() for x2, y2 in b.spans())


def _why(top: tuple[float, Unit] | None, ev: Evidence, p: float, threshold: float) -> dict:
    out: dict = {"answerable": round(p, 3), "threshold": threshold}
    if top is not None:
        score, u = top
        out["unit"] = {"kind": u.kind, "passage": u.rank + 1, "score": round(score, 3),
                       "features": {k: round(v, 3) for k, v in vars(u.features).items() if v}}
    out["evidence"] = {k: round(v, 3) for k, v in vars(ev).items()}
    return out


def version_notes(chosen: list[Unit], candidates: list[Unit], hits: Sequence[Hit]
                  ) -> list[tuple[Unit, Unit]]:
    """(chosen unit, the unit of another retrieved version of its document that says the same
    differently): "Gebühr in Euro: 7,50" in the version in force, "6,50" in the one before.
    Units whose words are the same in both versions give no note."""
    out: list[tuple[Unit, Unit]] = []
    for u in chosen:
        c = hits[u.rank].chunk
        version = version_of(c.title)
        if version is None:
            continue
        mine = _own_terms(u, hits)
        others: dict[str, list[tuple[float, Unit]]] = {}
        for o in candidates:
            oc = hits[o.rank].chunk
            ov = version_of(oc.title)
            if oc.doc_id == c.doc_id or o.kind != u.kind or ov is None or ov[0] != version[0]:
                continue
            theirs = _own_terms(o, hits)
            others.setdefault(oc.doc_id, []).append(
                (len(mine & theirs) / max(len(mine | theirs), 1), o))
        for scored in others.values():
            scored.sort(key=lambda so: -so[0])
            best, o = scored[0]
            second = scored[1][0] if len(scored) > 1 else 0.0
            if best >= VERSION_MATCH and best - second >= VERSION_MARGIN \
                    and _own_text(o, hits) != _own_text(u, hits) \
                    and all(o is not seen for _, seen in out):
                out.append((u, o))
    return out


def _own_text(u: Unit, hits: Sequence[Hit]) -> str:
    return " ".join(hits[u.rank].chunk.text[u.span[0]:u.span[1]].split())


def _own_terms(u: Unit, hits: Sequence[Hit]) -> frozenset[str]:
    """The words of the unit itself (not its lead-in or header, which versions share)."""
    return frozenset(analyze(_own_text(u, hits)))


def _compose(chosen: list[Unit], hits: Sequence[Hit], why: dict,
             notes: Sequence[tuple[Unit, Unit]] = ()) -> Answer:
    """Join the chosen units, one [n] marker per passage run, and cite verbatim spans; then,
    for each note, what the other version of the document says instead."""
    parts: list[str] = []
    quotes: dict[int, tuple[int, int]] = {}
    done: set[tuple[int, tuple[int, int]]] = set()  # a span two units bring is shown once
    for i, u in enumerate(chosen):
        n, text = u.rank + 1, hits[u.rank].chunk.text
        shown = [text[a:b] for a, b in u.spans() if (u.rank, (a, b)) not in done]
        done |= {(u.rank, sp) for sp in u.spans()}
        if u.lead:
            shown.insert(0, f"{u.lead} …")
        parts.append(" ".join(shown))
        spans = u.spans()
        a, b = quotes.get(n, spans[0])
        quotes[n] = (min(a, spans[0][0]), max(b, spans[-1][1]))
        if i + 1 == len(chosen) or chosen[i + 1].rank != u.rank:
            parts[-1] += f" [{n}]"
    answered = {u.rank for u in chosen}
    for u, o in notes:
        n, text = o.rank + 1, hits[o.rank].chunk.text
        older = version_of(hits[o.rank].chunk.title)[1] < version_of(hits[u.rank].chunk.title)[1]
        parts.append(f"Abweichend davon die {'ältere' if older else 'neuere'} Fassung: "
                     f"{text[o.span[0]:o.span[1]]} [{n}]")
        if o.rank not in answered:
            a, b = quotes.get(n, o.span)
            quotes[n] = (min(a, o.span[0]), max(b, o.span[1]))
    text, citations = cite(" ".join(parts), hits, quotes)
    noted = {hits[o.rank].chunk.id for _, o in notes} - {hits[r].chunk.id for r in answered}
    citations = tuple(replace(c, other_version=c.chunk_id in noted) for c in citations)
    return Answer(text, citations, refused=False, why=why)


def refusal(hits: Sequence[Hit], about: str = "", why: dict | None = None) -> Answer:
    """The German refusal, with the closest passages so the user can judge for themselves."""
    text = f"Zu „{about}“ enthalten die Quellen keine Angaben." if about else REFUSAL
    if hits:
        text += " Am nächsten kommen diese Passagen."
    closest = tuple(passage_citation(i + 1, h) for i, h in enumerate(hits[:3]))
    return Answer(text, (), refused=True, closest=closest, why=why)
