"""Stage 5a, what the extractive answer may quote: evidence units of the retrieved passages and
a small record of features for each.

A unit is a sentence (a sentence ending in a colon together with the one it announces), a list
item, a table row or a list's lead-in. It brings what it depends on: a list item its lead-in, a
sentence that points back ("Dies erlaubt ...") the sentence before it, a lead-in of a short
list its items; a sentence after one that names the asker's case ("... nach der Installation zu
voll sein.") keeps that one as its `case`, which the answer shows where it adds to what the user
asked. The features describe a unit; assistant.answer.answer_model decides with them. Lines
of a table of contents and passages of a bibliography or index are no units at all.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

from assistant.read.corpus import SECTION_SEPARATOR
from assistant.retrieve.question import Question
from assistant.text.analyzer import EXACT_TOKEN, analyze
from assistant.text.sentences import DOT_LEADER, ends_like_prose, is_bullet, sentence_spans
from assistant.text.versions import version_of
from assistant.types import Hit

_DATA = Path(__file__).resolve().parents[1] / "data" / "units.toml"
_ROW = re.compile(r"^[^–\n]{1,80} – .+: .+\.$")


@lru_cache(maxsize=1)
def _language() -> dict:
    return tomllib.loads(_DATA.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _points_back() -> re.Pattern:
    words = _language()["points_back"]
    preps = _language()["prepositions"]
    return re.compile(rf"^(?:(?:{'|'.join(preps)})\s+)?(?:{'|'.join(words)})\b", re.I)


# A number in a cross-reference is no value: "(siehe Abschnitt 1.2)", "(S. 231)", "Kapitel 7"
# answer neither "Wie viele ...?" nor "Wann ...?" ("Abschnitt 2.11." had read as a date).
_CROSS_REF = re.compile(r"\b(?:Abschnitt|Kapitel|Anhang|Abbildung|Abb\.|Tabelle|Tab\.|Seite|S\.)"
                        r"\s*[A-Z]?\d+(?:\.\d+)*(?:\s*(?:ff?\.|und|bis|–|-)\s*\d+(?:\.\d+)*)?")


@dataclass(frozen=True)
class Features:
    """What describes a unit. All in 0..1 except `log_len`; names are the model's weight keys."""

    coverage: float  # share of the question's weight the unit (with what it brings) covers
    passage: float  # ... that its whole passage covers, with heading path and lead-in
    section: float  # ... that its heading path covers
    fits_type: float  # it has what the question word asks for (a date for "Wann", ...)
    dense_prior: float  # 1 / (1 + rank of its passage by dense similarity)
    fused_prior: float  # 1 / (1 + rank of its passage after fusion)
    dense: float  # cosine similarity of its passage (0 if only BM25 found it)
    question: float  # it is itself a question (a checklist line)
    heading_like: float  # no final punctuation: a heading, caption or label
    fragment: float  # starts in lower case or is a few words: cut from its sentence
    item: float  # a list item
    row: float  # a table row
    lead_in: float  # the lead-in of a list
    footnote: float  # from a footnote
    caption: float  # from a caption
    points_back: float  # opens with a back-reference ("Dies", "Dort", "Außerdem")
    situation: float  # share of the question's weight that the sentence before it (in its
    # paragraph) covers and it does not: the answer after the sentence naming the asker's case
    superseded: float  # its document is an older version of another retrieved one, and the
    # question names no year of that older version ("Was galt 2023?")
    log_len: float  # log(characters / 100)

    def vector(self) -> list[float]:
        return [getattr(self, f.name) for f in fields(self)]


FEATURES = tuple(f.name for f in fields(Features))


@dataclass(frozen=True)
class Unit:
    """One quotable unit of passage `rank`: its span, the spans it brings, and its features."""

    rank: int
    span: tuple[int, int]  # in the passage text
    kind: str  # sentence, item, row, lead-in
    brings: tuple[tuple[int, int], ...]  # spans of the same passage shown with it, in order
    lead: str  # a lead-in or header the passage does not hold (its chunk continues a list)
    terms: frozenset[str]
    features: Features
    # the sentence before, where it names the asker's case (`situation` > 0): its span and words;
    # the answer shows it where it adds to what the user asked (with_case)
    case: tuple[tuple[int, int], frozenset[str]] | None = None

    def spans(self) -> list[tuple[int, int]]:
        """Every span this unit shows, in passage order."""
        return sorted({*self.brings, self.span})

    def with_case(self, q: Question) -> Unit:
        """This unit, showing the sentence before it too where that adds to question `q` (in a
        follow-up, the user's own words: "Welcher davon ...?" needs no list of the last answer)."""
        if self.case is None or q.coverage(self.terms | self.case[1]) <= q.coverage(self.terms):
            return self
        return replace(self, brings=(*self.brings, self.case[0]), case=None)


def units(q: Question, hits: Sequence[Hit]) -> list[Unit]:
    """Every evidence unit of the passages, with its features."""
    old = superseded(q.text, hits)
    order = sorted(range(len(hits)), key=lambda r: (-(hits[r].dense or 0.0), r))
    dense_rank = {r: i for i, r in enumerate(order)}
    out: list[Unit] = []
    for r, h in enumerate(hits):
        c = h.chunk
        if c.role == "reference":
            continue
        text = c.text
        spans = _spans(text)
        context = frozenset(analyze(" ".join((c.section, c.lead, text))))
        section = frozenset(analyze(c.section))
        # "§ 3" (par3) or a file number (idkae08) in a heading names every unit under it
        # ("§ 3 Gebührenschuldner" › "(1) Zur Zahlung der Gebühr ist verpflichtet, ...")
        marks = frozenset(t for t in section if EXACT_TOKEN.fullmatch(t))
        heading = c.section.split(SECTION_SEPARATOR)[-1].strip() if c.section else ""
        kinds = [_kind(text[a:b], spans, i, text, c.role) for i, (a, b) in enumerate(spans)]
        sentences: list[tuple[int, int, frozenset[str]]] = []  # span and words of each sentence
        for i, (a, b) in enumerate(spans):
            s, kind = text[a:b], kinds[i]
            brings = _brings(kind, spans, i, text)
            if _not_an_answer(s, kind, brings, heading):
                continue
            # the chunk's own lead-in or header line, if it has one, is brought; else Chunk.lead
            own_lead = any(k in ("lead-in", "header") for k in kinds[:i])
            lead = c.lead if kind in ("item", "row") and not own_lead else ""
            shown = " ".join([lead, *(text[x:y] for x, y in sorted({*brings, (a, b)}))])
            terms = frozenset(analyze(shown)) | marks
            first = min([a, *(x for x, _ in brings)])
            # the sentence before, in the same paragraph, may name the asker's case ("... nach
            # der Installation zu voll sein.") and this one what to do ("Um diese zu erweitern,
            # führen Sie ... aus."): what it adds of the question is a feature, and it may be shown
            before = [st for st in sentences if st[1] <= first]
            situation = 0.0
            if kind == "sentence" and before and "\n\n" not in text[before[-1][1]:first]:
                situation = q.coverage(terms | before[-1][2]) - q.coverage(terms)
            if kind == "sentence" and ends_like_prose(s):  # a heading counts by `section`
                sentences.append((a, b, frozenset(analyze(s))))
            f = Features(
                coverage=q.coverage(terms),
                passage=q.coverage(context),
                section=q.coverage(section),
                fits_type=float(bool(q.looks_like and q.looks_like.search(_CROSS_REF.sub(" ", shown)))),
                dense_prior=1 / (1 + dense_rank[r]),
                fused_prior=1 / (1 + r),
                dense=h.dense or 0.0,
                question=float(s.rstrip().endswith("?")),
                heading_like=float(not ends_like_prose(s)),
                fragment=float(s[:1].islower() or len(s.split()) < 4),
                item=float(kind == "item"),
                row=float(kind == "row"),
                lead_in=float(kind == "lead-in"),
                footnote=float(c.role == "footnote"),
                caption=float(c.role == "caption"),
                points_back=float(bool(_points_back().match(s))),
                situation=situation,
                superseded=float(c.doc_id in old),
                log_len=math.log(max(len(shown), 10) / 100),
            )
            case = (before[-1][:2], before[-1][2]) if situation > 0 else None
            out.append(Unit(r, (a, b), kind, tuple(brings), lead, terms, f, case))
    return out


_BEFORE = re.compile(r"\bvor\s+(?:dem\s+)?(?:(?:Jahr|Jahresbeginn)\s+)?(?:(\d{1,2})\.\s?(\d{1,2})\.\s?)?"
                     r"((?:19|20)\d\d)\b", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@lru_cache(maxsize=1)
def _earlier() -> re.Pattern:
    """A question for the version before the newest (units.toml: "die alte Fassung", "was galt
    früher", "vor der Änderung")."""
    def alt(key: str) -> str:
        return "|".join(_language()[key])

    return re.compile(rf"\b(?:(?:{alt('earlier_adjectives')})[nrs]?\s+(?:{alt('version_nouns')})|"
                      rf"vor der (?:{alt('before_nouns')})|(?:{alt('past_verbs')})\b[^?]*\bfrüher|"
                      rf"früher\b[^?]*\b(?:{alt('past_verbs')}))\b", re.I)


def asked_years(question: str) -> list[int]:
    """The years a question asks about: "2023" and "im Jahr 2023" -> 2023, "vor 2024" and "vor
    dem 01.01.2024" -> 2023 (a day later in a year still lies in it)."""
    out, spans = [], []
    for m in _BEFORE.finditer(question):
        day, month, year = m.group(1), m.group(2), int(m.group(3))
        out.append(year if day and (int(day), int(month)) != (1, 1) else year - 1)
        spans.append(m.span())
    out += [int(m[0]) for m in _YEAR.finditer(question)
            if not any(a <= m.start() < b for a, b in spans)]
    return out


def superseded(question: str, hits: Sequence[Hit]) -> set[str]:
    """Documents among the hits that are not the asked version of their title: of several
    retrieved versions, the one valid in the year the question names ("Was galt 2023?", "vor
    2024"), the one before the newest where it asks for the earlier one ("die alte Fassung"),
    else the newest; the others are returned."""
    versions = {h.chunk.doc_id: v for h in hits if (v := version_of(h.chunk.title))}
    years = asked_years(question)
    earlier = not years and bool(_earlier().search(question))
    out = set()
    for base in {b for b, _ in versions.values()}:
        group = {d: y for d, (b, y) in versions.items() if b == base}
        if len(group) < 2:
            continue
        valid = [d for d, y in group.items() if any(y <= asked for asked in years)]
        if earlier:
            valid = [d for d, y in group.items() if y < max(group.values())]
        keep = max(valid or group, key=lambda d: group[d])
        out |= set(group) - {keep}
    return out


def _not_an_answer(s: str, kind: str, brings: list, heading: str) -> bool:
    """Lines that never answer on their own: a heading (the passage's own section title, or a
    short line without final punctuation), a table of contents line, a table's header, and a
    lead-in without items."""
    if DOT_LEADER.search(s) or kind == "header" or kind == "lead-in" and not brings:
        return True
    if kind in ("item", "row"):
        return False
    return s.strip() == heading or not ends_like_prose(s) and len(s.split()) <= 6


def _spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans, with a sentence ending in a colon joined to the one it announces (a
    lead-in of marked list items stays its own unit and brings its items)."""
    out: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        if out and text[out[-1][1] - 1] == ":" and not text[out[-1][1]:a].strip() \
                and not (_line_start(text, a) and is_bullet(text[a:b])):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _line_start(text: str, a: int) -> bool:
    return a == 0 or text[a - 1] == "\n"


def _kind(s: str, spans: list[tuple[int, int]], i: int, text: str, role: str) -> str:
    a = spans[i][0]
    if role == "table" and _line_start(text, a):
        return "row" if _ROW.match(text[a:text.find("\n", a) if "\n" in text[a:] else len(text)]) \
            else "header"
    if _line_start(text, a) and is_bullet(s):
        return "item"
    nxt = spans[i + 1][0] if i + 1 < len(spans) else None
    if s.endswith(":") and nxt is not None and _line_start(text, nxt) and is_bullet(text[nxt:]):
        return "lead-in"
    return "sentence"


def _brings(kind: str, spans: list[tuple[int, int]], i: int, text: str) -> list[tuple[int, int]]:
    """The spans a unit is shown with: a list item its lead-in (and the item lines before it
    of the same item), a lead-in its first items, a pointing-back sentence its previous
    one, a table row its header line."""
    out: list[tuple[int, int]] = []
    a, _ = spans[i]
    if kind in ("item", "row"):
        for j in range(i - 1, -1, -1):
            x, y = spans[j]
            line_start = _line_start(text, x)
            if kind == "row" and line_start and "|" in text[x:y]:
                out.append((x, y))  # the header of the table
                break
            if kind == "item" and line_start and not is_bullet(text[x:y]):
                if text[x:y].endswith(":"):
                    out.append((x, y))  # the lead-in of the list
                break
    elif kind == "lead-in":  # its items, as many as fit in 500 characters (the first always)
        used = 0
        for x, y in spans[i + 1:]:
            if not (_line_start(text, x) and is_bullet(text[x:y])) or out and used + y - x > 500:
                break
            out.append((x, y))
            used += y - x
    j = i  # a sentence pointing back brings the one before, and so on (at most two)
    while kind == "sentence" and j > 0 and i - j < 2 and _points_back().match(text[spans[j][0]:]) \
            and "\n" not in text[spans[j - 1][1]:spans[j][0]]:
        j -= 1
        out.append(spans[j])
    return out
