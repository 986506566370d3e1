"""What a question asks for: its weighted terms (with compound heads) and its answer type.

Shared by the answer stages: the extractive answerer scores sentences with it, and the
refusal rules read it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from assistant.text.analyzer import CODE_NAME, analyze, stem
from assistant.text.dates import find_dates

_DATA = Path(__file__).resolve().parents[1] / "data" / "question.toml"


def _words_pattern(key: str) -> re.Pattern:
    """A pattern matching any of the words listed under `key` in the data file ('*' at either
    end: any ending, any compound before it)."""
    words = tomllib.loads(_DATA.read_text(encoding="utf-8"))[key]
    alts = [(r"\w*" if w.startswith("*") else "") + re.escape(w.strip("*"))
            + (r"\w*" if w.endswith("*") else "") for w in words]
    return re.compile(r"(?<!\w)(" + "|".join(alts) + r")(?!\w)")

# what an identifier looks like in a passage: a URL, a path, "name=value", an option, a
# lower-case name with a digit, hyphen, dot or underscore ("debian-edu-fsautoresize", "resize2fs"),
# a version or address ("3.9.9.12"), a file number ("BAU-DA-2/2024", "KAE-08", "Nr. 13")
_IDENTIFIER = re.compile(r"https?://\S+|(?<![\w/])/[\w.-]+/|\b\w+=\S+|(?<![\w-])--?[a-z][\w-]+"
                         rf"|\b{CODE_NAME.pattern}\b(?<=\w{{3}})|\b[a-z]+\d[a-z0-9]*\b"
                         r"|\b\d+(?:\.\d+){2,}\b|\b[A-ZÄÖÜ]{2,}(?:-[A-Z0-9]+)*-\d+(?:/\d{4})?\b"
                         r"|\b(?:Nr\.|Nummer)\s*\d+|`[^`]+`")
_TYPES: list[tuple[str, re.Pattern, re.Pattern | None]] = [
    ("person", re.compile(r"^\W*(?:\w+\s+)?(wer|wem|wen|wessen|who)\b", re.I),
     _words_pattern("person_titles")),
    # a date, a day, or a time span or deadline ("spätestens drei Monate nach ...")
    ("date", re.compile(r"^\W*((?:seit|bis|ab|von) wann|wann|an welchem tag|in welchem jahr|"
                        r"welches datum|when)\b", re.I),
     # a year from 1000 on ("1288", "1685"), a decade ("1920er"), a century, a day
     re.compile(r"\b(1\d|20)\d\d\b|\b\d{3,4}er\b|\b\d{1,2}\.\s?(Jahrhundert\w*|\d{1,2}\.|"
                r"(Jan|Feb|Mär|Apr|Mai|Jun|Jul|Aug|Sep|Okt|Nov|Dez)\w*)|"
                r"\b(\d+|einem|einer|eine|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|"
                r"zwölf|vierzehn|dreißig)\s+(Werk|Kalender|Arbeits)?(tag|Tag|Woche|Monat|Jahr)\w*|"
                r"\b(spätestens|unverzüglich|innerhalb|jederzeit)\b")),
    # a place: "in Berlin", "aus der Stadt", "im ehemaligen Flughafen Tempelhof"
    ("place", re.compile(r"^\W*(wo|woher|wohin|an welchem ort|in welcher stadt|where)\b", re.I),
     re.compile(r"\b(in|im|nach|aus)\s+(der\s+|dem\s+|des\s+|das\s+)?([a-zäöü]\w+\s+)?[A-ZÄÖÜ]\w+")),
    # a price: an amount asked for ("was", "wie viel", "wie hoch") with a verb of costing or
    # paying in any tense ("kostete", "hat ... gekostet", "muss ich ... bezahlen"), a fee or a
    # price; or "wie teuer", "welche Gebühr". Answered by an amount of money or "kostenlos", not
    # by the word "Gebühr" alone (every sentence of a fee statute has that). A prize ("Preis")
    # that is not asked for as an amount is no price, nor a compound whose head is another noun
    # ("Verwaltungsgebührensatzung").
    ("price", re.compile(r"\b(?:was|wie ?viel|wie hoch)\b[^?]*?(?:\b(?:kostet\w*|kostete\w*|"
                         r"gekostet|bezahl\w*|entrichten)\b|\w*(?:gebühr|preis|betrag|beträge)(?:en|es|e|s)?\b|"
                         r"(?-i:\b(?:kosten|zahle|zahlen|zahlt|zahlst)\b))|\bwie teuer\b|"
                         r"\bwelche[nrms]?\s+\w*(?:gebühr|preis|betrag)|\bhow much\b|"
                         r"\bwhat\b[^?]*\b(?:costs?|fees?|prices?)\b", re.I),
     re.compile(r"\d[\d.,]*\s*(?:(?:Millionen|Milliarden|Mio\.|Mrd\.)\s*)?(?:€|\$|£|(?:Euro|EUR|"
                r"Cent|Dollar|US-Dollar|Pfund|Mark|Franken)\b)|(?:€|\$|£|\b(?:Euro|EUR|Dollar)\b)"
                r"\W{0,3}\d|\b(?:kostenlos|kostenfrei|gebührenfrei|unentgeltlich|umsonst)\b|"
                # or a share of another fee or sum: "50 Prozent der Gebühr", "die Hälfte der Kosten"
                r"(?:\d+\s*(?:Prozent|%)|Hälfte|Drittel|Viertel|Doppelte\w*)\s+(?:der|des)\s+"
                r"\w*(?:Gebühr|Kosten|Betrag|Summe|Preis)")),
    # a place in a ranking ("Auf welchem Platz liegt ...?"): a number or an ordinal
    ("count", re.compile(r"\b(?:auf|an)\s+welche[mr]\s+(?:platz|rang|position)\b|"
                         r"\bwelche[nrs]?\s+(?:platz|rang|position)\b", re.I),
     re.compile(r"\b\d+\b|\b(?:erst|zweit|dritt|viert|fünft|sechst|siebt|acht|neunt|zehnt|elft|"
                r"zwölft|letzt)(?:e[nmrs]?)\b", re.I)),
    ("count", re.compile(r"\b(wie ?viel(?:e[nr]?)?|anzahl|how many)\b", re.I),
     re.compile(r"\b(\d+|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf)\b", re.I)),
    # a technical or administrative identifier: "Mit welchem Befehl", "Welche pGina-Version",
    # "Welches Formular": a command, path, version number, parameter, URL or file number
    ("identifier", re.compile(r"\b(?:welche[mnrs]?|wie (?:heißt|heißen|lautet|lauten))\s+"
                              r"(?:[\w²-]+\s+)?[\w²-]*?(?:befehl|kommando|paket|version|datei|"
                              r"parameter|option|pfad|url|adresse|skript|programm|aktenzeichen|"
                              r"formular|kennung|nummer|werkzeug|tool)", re.I), _IDENTIFIER),
    ("list", re.compile(r"^\W*(welche|nenne|liste|which)\b", re.I),
     re.compile(r"(,[^,]+){2,}")),
    # "Wie kann ich ...", "Was kann ich tun?", "Wo trage ich ... ein?": a task of the asker's.
    # No answer pattern: the instruction is whatever follows the sentence naming the situation.
    ("task", re.compile(r"^\W*(?:[^?]*?\.\s+)?(wie|was|wo|womit|mit welche\w*|über welche\w*)\b"
                        r"[^?]*\b(ich|wir)\b", re.I), None),
]
_AUX_DATE = re.compile(r"m\d{6}|dm\d{4}")
_ENGLISH_THOUSANDS = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_WORD = re.compile(r"\w+")


class TermStats(Protocol):
    """Corpus statistics the answer stage needs (LexicalIndex provides them)."""

    def idf(self, terms: Iterable[str]) -> dict[str, float]: ...

    def heads(self, terms: Iterable[str]) -> dict[str, str]: ...

    def is_variant_of_indexed(self, term: str) -> bool: ...

    def inflections(self, term: str) -> list[str]: ...


@dataclass(frozen=True)
class AskedTerm:
    """One term the question asks about: its weight, and the forms that satisfy it (with credit)."""

    term: str
    weight: float
    forms: tuple[tuple[str, float], ...]
    known: bool  # occurs somewhere in the corpus, or is a variant or compound of indexed words
    noun: bool


@dataclass(frozen=True)
class Question:
    """A question analyzed against the corpus."""

    text: str
    needs: tuple[AskedTerm, ...]
    kind: str  # person, date, place, price, count, list, task, or ""
    looks_like: re.Pattern | None
    foreign: bool = False  # asked in English (over German text, its function words are no terms)

    @property
    def total(self) -> float:
        return sum(n.weight for n in self.needs) or 1.0

    def coverage(self, terms: set[str] | frozenset[str]) -> float:
        """Share of the question's weight that a set of analyzed terms satisfies (0..1).

        A term counts fully, its compound head half, and so does a longer word it begins
        ("zusammen" in "zusammengeschlossen": German separable verbs and compounds).
        """
        got = 0.0
        for n in self.needs:
            credit = max((c for f, c in n.forms if f in terms), default=0.0)
            if credit < 0.5 and len(n.term) >= 6 and any(t.startswith(n.term) for t in terms):
                credit = 0.5
            got += n.weight * credit
        return got / self.total

    def terms(self) -> frozenset[str]:
        """Every analyzed form that satisfies one of the question's terms."""
        return frozenset(f for n in self.needs for f, _ in n.forms)

    def unknown_share(self) -> float:
        """Share of the question's weight carried by nouns the corpus never mentions."""
        return sum(n.weight for n in self.needs if n.noun and not n.known) / self.total

    def unknown_nouns(self) -> list[str]:
        """Nouns of the question that the corpus never mentions, not even as a variant."""
        return [n.term for n in self.needs if n.noun and not n.known]


def analyze_question(text: str, stats: TermStats) -> Question:
    """Weigh the question's terms: IDF, x2 for nouns (capitalized after the first word), x0.3 for
    the auxiliary tokens of a date; compounds may be met by their head for half credit, and an
    unindexed word by the indexed word it inflects for full credit."""
    foreign = is_english(text)
    # English groups thousands with commas: "200,000 euros" is the German "200.000 Euro"
    terms = list(dict.fromkeys(analyze(_ENGLISH_THOUSANDS.sub(lambda m: m[0].replace(",", "."), text)
                                       if foreign else text)))
    idf = stats.idf(terms)
    heads = stats.heads(terms)
    df_zero = _absent(terms, stats)
    words = _WORD.findall(text)
    nouns = {stem(w) for w in words[1:] if w[:1].isupper() and not w.isupper()}
    nouns -= set(analyze(" ".join(w for w in words if w.lower() in _QUESTION_WORDS)))
    needs = []
    for t in terms:
        w = idf.get(t, 0.0) * (0.3 if _AUX_DATE.fullmatch(t) else 1.0) * (2.0 if t in nouns else 1.0)
        variants = stats.inflections(t) if t in df_zero else []  # "gateways" -> "gateway"
        forms = ((t, 1.0),) + (((heads[t], 0.5),) if t in heads else ()) \
            + tuple((v, 1.0) for v in variants)
        known = t not in df_zero or bool(variants) or stats.is_variant_of_indexed(t)
        needs.append(AskedTerm(t, w, forms, known, t in nouns))
    kind, looks_like = answer_type(text)
    if foreign:  # its function words are no terms ("who", "the", "on")
        needs = [n for n in needs if n.term not in _english_terms() or n.known]
    return Question(text, tuple(needs), kind, looks_like, foreign)


def is_english(text: str) -> bool:
    """Whether a question is English: at least two English function words and no German one
    (question.toml)."""
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(w in _english() for w in words) >= 2 and not any(w in _german() for w in words)


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    return frozenset(tomllib.loads(_DATA.read_text(encoding="utf-8"))["english_function_words"])


@lru_cache(maxsize=1)
def _english_terms() -> frozenset[str]:
    return frozenset(analyze(" ".join(_english())))


@lru_cache(maxsize=1)
def _german() -> frozenset[str]:
    return frozenset(tomllib.loads(_DATA.read_text(encoding="utf-8"))["german_function_words"])


# A question joining several ("Welches Amt ist zuständig und wer vertritt ...?", "Wo reiche ich
# ... ein, und bis wann?"): a part starts after "und"/"sowie" that a question word follows, or
# after a question mark.
_PART = re.compile(r"(?<!\bob)(?:,\s*|\s+)(?:und|sowie)\s+(?=(?:(?:bis|seit|ab|auf|in|an|für|mit|von|zu|"
                   r"bei|nach|über|unter|aus)\s+)?(?:wer|wem|wen|wessen|wann|wo\w*|was|wie|"
                   r"welche\w*|warum|weshalb|wieso)\b)|(?<=\?)\s+(?=[^\s(])", re.I)


def split_parts(text: str) -> list[str]:
    """The questions a question joins, each with its question word first (one part: itself)."""
    parts = [p.strip(" ,;") for p in _PART.split(text)]
    return [p for p in parts if p] or [text]


def answer_type(text: str) -> tuple[str, re.Pattern | None]:
    """The answer type of the (first) question, and a pattern an answer to any of its parts
    shows: a unit fits when it has what one of the question words asks for."""
    found = [next(((n, p) for n, asks, p in _TYPES if asks.search(part)), ("", None))
             for part in split_parts(text)]
    kind = next((n for n, _ in found if n), "")
    patterns = list(dict.fromkeys(p for _, p in found if p is not None))
    if len(patterns) <= 1:
        return kind, patterns[0] if patterns else None
    return kind, re.compile("|".join(f"(?{'i' if p.flags & re.I else ''}:{p.pattern})"
                                     for p in patterns))


_QUESTION_WORDS = {"wer", "wann", "wo", "was", "wie", "welche", "welcher", "welches", "warum"}


def _absent(terms: list[str], stats: TermStats) -> set[str]:
    """Terms with the highest possible IDF, i.e. found in no chunk."""
    if not terms:
        return set()
    idf = stats.idf(terms + ["\x00never"])
    top = idf.pop("\x00never")
    return {t for t, v in idf.items() if v >= top - 1e-9}


def missing_dates(question: str, passages: list[str]) -> str:
    """A date or year the question names that no candidate passage contains ('' if none)."""
    have = set().union(*(analyze(p) for p in passages)) if passages else set()
    for a, b, y, mo, d in find_dates(question):
        key = f"d{y:04d}{mo:02d}{d:02d}" if y and d else (f"m{y:04d}{mo:02d}" if y else "")
        if key and key not in have:
            return question[a:b]
    for year in re.findall(r"\b(?:19|20)\d\d\b", question):
        if year not in have:
            return year
    return ""
