"""Follow-up questions, before retrieval: decide with cheap rules whether a question leans on the
chat history, and if so, make it self-contained for retrieval and for the answerer.

The back-reference words live in assistant/data/followup.toml. Three cases:

- an ordinal ("Und wer war der zweite?") picks one item of the list in the last answer, and the
  question is read with it: "Und wer war der zweite? (... Herr Schlusche)";
- a choice ("Welcher davon ist auch Mitglied ...?") is read with the last user question, and
  retrieval also gets all the items of that list, so the passage telling them apart comes back;
- any other follow-up ("dort", "dabei", "Und wann?") is read with the last user question,
  "Und auf wessen Einladung fand das Gespräch statt? (Wer nahm am 13. Juni 2016 teil?)" (the
  question word stays first, so the asked-for answer type is kept), and retrieval also gets the
  names of the last answer.

Only a cited answer (one with a [n] marker) is read: refusals and error messages name nothing
from the documents. An LLM rewrite can replace `rewrite` where a model is configured; the rules
stay as the fallback.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.answer.citations import MARKER
from assistant.retrieve.question import split_parts
from assistant.text.analyzer import STOPWORDS, analyze
from assistant.text.dates import find_dates
from assistant.text.sentences import is_bullet, split_sentences

DATA = Path(__file__).resolve().parents[1] / "data" / "followup.toml"
MAX_ITEM_WORDS = 10  # a longer piece of a sentence is a clause, not a list item
MAX_NAMES = 24  # names of the last answer given to retrieval

_MARKS = "?!.,;:"
_TOKEN = re.compile(rf"\w+(?:[-.]\w+)*|[{_MARKS}]")
_BULLET_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[^\w\s(„\"'])\s*")


@dataclass(frozen=True)
class Lexicon:
    """The language data of follow-up questions, phrases as tuples of lower-case words."""

    openers: tuple[tuple[str, ...], ...]
    weak: tuple[tuple[str, ...], ...]
    expletives: tuple[tuple[str, ...], ...]
    strong: tuple[tuple[str, ...], ...]
    selectors: tuple[tuple[str, ...], ...]
    ordinals: dict[str, int]
    kind_words: tuple[tuple[str, ...], ...]
    articles: frozenset[str]
    separators: re.Pattern


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The data file, read once."""
    d = tomllib.loads(DATA.read_text(encoding="utf-8"))

    def phrases(words: list[str]) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(w.split()) for w in words)

    seps = sorted(d["lists"]["separators"], key=len, reverse=True)
    return Lexicon(phrases(d["openers"]), phrases(d["weak"]), phrases(d["expletives"]),
                   phrases(d["strong"]), phrases(d["selectors"]), dict(d["ordinals"]),
                   phrases(d["lists"]["kind_words"]), frozenset(d["lists"]["articles"]),
                   re.compile("|".join(re.escape(s) for s in seps)))


@dataclass(frozen=True)
class Followup:
    """A question made self-contained: `question` for the answerer, `query` for retrieval."""

    question: str
    query: str


def tokens(text: str) -> list[str]:
    """Lower-case words and punctuation marks; a hyphenated compound ("ViR-Nordwest") is one
    word."""
    return _TOKEN.findall(text.lower())


def _find(words: list[str], phrases: Sequence[tuple[str, ...]]) -> int:
    """Index of the first word where one of the phrases starts, or -1."""
    for i in range(len(words)):
        if any(tuple(words[i:i + len(p)]) == p for p in phrases):
            return i
    return -1


def _ordinal(words: list[str]) -> tuple[int, int] | None:
    """(word index, position) of the first ordinal word ("zweiten" -> 2), or None."""
    table = lexicon().ordinals
    for i, w in enumerate(words):
        base = w if w in table else w[:-1] if w[-1:] in "rnms" and w[:-1] in table else None
        if base is not None:
            return i, table[base]
    return None


def _is_content(word: str) -> bool:
    return bool(analyze(word))


def _without(words: list[str], phrases: Sequence[tuple[str, ...]]) -> list[str]:
    """The words with every occurrence of the phrases taken out."""
    i = _find(words, phrases)
    while i >= 0:
        length = max(len(p) for p in phrases if tuple(words[i:i + len(p)]) == p)
        words = words[:i] + words[i + length:]
        i = _find(words, phrases)
    return words


def _nominal_ordinal(words: list[str]) -> bool:
    """An ordinal standing for a noun ("Und der zweite?", "der zweite davon"), not one before a
    word ("das erste Gespräch", "zum ersten Mal", "als letzter ein")."""
    found = _ordinal(words)
    if found is None:
        return False
    after = words[found[0] + 1:]
    return not after or after[0] in _MARKS or _find(after[:2], lexicon().selectors) == 0


def _demonstrative(words: list[str]) -> bool:
    """A demonstrative that points out of the question: "diese Kommission", but not "die
    Datensicherung ... diese Sicherung", whose noun the question itself named."""
    strong = lexicon().strong
    for i, w in enumerate(words):
        if (w,) not in strong:
            continue
        noun = analyze(words[i + 1]) if i + 1 < len(words) else []
        earlier = [t for v in words[:i] for t in analyze(v)]
        if not noun or not any(t.endswith(noun[0]) for t in earlier):
            return True
    return False


def _references(question: str) -> tuple[bool, bool]:
    """(strong, weak): whether the question has a strong back-reference (a demonstrative,
    "davon", "der zweite") and whether it has a weak one (a pronoun, "dort", "dabei")."""
    lex = lexicon()
    own = _without(tokens(question), lex.expletives)  # "gibt es", "Nennen Sie": no one meant
    strong = _find(own, lex.selectors) >= 0 or _nominal_ordinal(own) or _demonstrative(own)
    return strong, _find(own, lex.weak) >= 0


def needs_history(question: str) -> bool:
    """True for questions that cannot stand alone: a conjunction opener, no content word at all,
    a strong back-reference, or a weak one in a question of at most two content words and no
    date of its own."""
    words = tokens(question)
    if _find(words[:2], lexicon().openers) == 0 or not analyze(question):
        return True  # "Und wo?", "Seit wann?"
    strong, weak = _references(question)
    return strong or (weak and len(analyze(question)) <= 2 and not find_dates(question))


def _last_turn(history: Sequence[dict]) -> tuple[str, str]:
    """The last user question, and the cited answer that followed it ('' if none)."""
    question, answer = "", ""
    for m in history:
        content = (m.get("content") or "").strip()
        if m.get("role") == "user" and content:
            question, answer = content, ""
        elif m.get("role") == "assistant" and question and MARKER.search(content):
            answer = MARKER.sub("", content).strip()
    return question, answer


def _kind(words: list[str], start: int = -1) -> str:
    """The noun naming what a question asks for: after a kind word ("Welche Landkreise"), or
    after `start` (an ordinal: "der zweite Landkreis"); articles may stand between."""
    lex = lexicon()
    if start < 0:
        i = _find(words, lex.kind_words)
        if i < 0:
            return ""
        start = i + len(next(p for p in lex.kind_words if tuple(words[i:i + len(p)]) == p)) - 1
    rest = words[start + 1:]
    while rest and (rest[0] in lex.articles or (rest[0],) in lex.strong):
        rest = rest[1:]
    refers = _find(rest, lex.weak + lex.selectors) == 0
    return rest[0] if rest and _is_content(rest[0]) and not refers else ""


def _pieces(sentence: str) -> list[str]:
    """The parts of a sentence between list separators, trailing verbs and particles dropped
    ("Nordwest zusammengeschlossen" -> "Nordwest")."""
    out = []
    for piece in lexicon().separators.split(sentence):
        words = piece.strip(" .:;!?").split()
        while len(words) > 1 and words[-1][:1].islower():
            words.pop()
        if words:
            out.append(" ".join(words))
    return out


def list_items(answer: str, kind: str = "", strict: bool = False) -> list[str]:
    """The items of the list in an answer: its bullet lines, else the pieces of its sentence with
    the most of them. With a `kind` noun, only the group it heads ("die Landkreise A, B und C");
    where no group has that noun, the whole list, or none if `strict`."""
    answer = MARKER.sub("", answer)
    lines = [ln for ln in answer.splitlines() if is_bullet(ln)]
    if len(lines) >= 2:
        return [_BULLET_MARK.sub("", ln).strip() for ln in lines]
    pieces = max((_pieces(s) for s in split_sentences(answer)), key=len, default=[])
    if len(pieces) < 2:
        return []
    group = _group(pieces, kind) if kind else None
    if group is None and strict:
        return []
    items: list[str] = []
    for p in pieces if group is None else group:
        if items and len(p.split()) > MAX_ITEM_WORDS:
            break  # the list has ended: "A, B und C, um ... zu ..."
        items.append(p)
    return items


def _group(pieces: list[str], kind: str) -> list[str] | None:
    """The pieces from the one naming `kind` (the noun dropped) to the next group's article."""
    stem = analyze(kind)
    for i, p in enumerate(pieces):
        words = p.split()
        at = next((j for j, w in enumerate(words) if analyze(w) == stem), -1)
        if at < 0:
            continue
        head = " ".join(words[at + 1:])
        group = [head] if head else []
        for q in pieces[i + 1:]:
            if q.split()[0].lower() in lexicon().articles:
                break
            group.append(q)
        return group
    return None


def names(answer: str, known: str = "") -> list[str]:
    """The names and numbers of an answer (capitalized words and digits, no stopwords), without
    the words of `known`, in order, at most MAX_NAMES."""
    seen = set(tokens(known))
    out = []
    for w in _TOKEN.findall(answer):
        low = w.lower()
        if (w[0].isupper() or w[0].isdigit()) and low not in STOPWORDS and low not in seen:
            seen.add(low)
            out.append(w)
    return out[:MAX_NAMES]


def referent(question: str, answer: str, previous: str) -> tuple[list[str], bool]:
    """The items of the last answer a question points at, and whether it picks one by its
    position: (the one item, True) for an ordinal ("der zweite"), (the list, False) for a choice
    ("Welcher davon"), ([], False) for any other question or where the answer has no list."""
    words = tokens(question)
    ordinal = _ordinal(words)
    if not answer or (ordinal is None and _find(words, lexicon().selectors) < 0):
        return [], False
    own = _kind(words, ordinal[0]) if ordinal else _kind(words)
    # A noun of the question's own must head a group of the list ("der zweite Landkreis");
    # "das erste Gespräch" after a list of people means no item of it.
    items = list_items(answer, own, strict=True) if own else \
        list_items(answer, _kind(tokens(previous)))
    if ordinal is None:
        return items, False
    position = ordinal[1]
    index = position - 1 if position > 0 else len(items) + position
    return (items[index:index + 1], True) if 0 <= index < len(items) else ([], False)


def with_context(question: str, context: str) -> str:
    """A follow-up question resolved by what it refers to: "Welcher davon ...? (Welche ...?)"."""
    return f"{question} ({context})"


def asked_parts(question: str) -> list[str]:
    """The questions a question joins, each made self-contained: a part that leans on the one
    before ("Wo reiche ich ... ein, und bis wann?") is read with the first part, as a
    follow-up is read with the last question ("bis wann? (Wo reiche ich ... ein)")."""
    parts = split_parts(question)
    return [p if i == 0 or not needs_history(p) else with_context(p, parts[0])
            for i, p in enumerate(parts)]


def asked_part(resolved: str, history: Sequence[dict]) -> str:
    """The user's own words of a question `with_context` resolved (the whole question if it was
    not resolved): what an answer must add to, as against what locates it."""
    previous, answer = _last_turn(history)
    if previous and resolved.endswith(")") and " (" in resolved:
        cut = resolved.rindex(" (")
        context = resolved[cut + 2:-1]
        if context == previous or context in answer:
            return resolved[:cut]
    return resolved


def rewrite(question: str, history: Sequence[dict]) -> Followup:
    """The question for the answerer and the query for retrieval. A question that stands alone
    is both. An ordinal is read with the item it picks; any other follow-up with the last user
    question; retrieval also gets the items of a choice, else, where the question points back
    by a word or has no content word, the names of the last answer."""
    question = question.strip()
    previous, answer = _last_turn(history)
    if not previous or not needs_history(question):
        return Followup(question, question)
    items, picked = referent(question, answer, previous)
    if picked:
        resolved = with_context(question, items[0])
        return Followup(resolved, f"{resolved} {previous}")
    resolved = with_context(question, previous)
    if items:
        # A choice among the items: retrieval looks for them all, the answerer does not, or the
        # sentence listing them all would outscore the one that says which (see the tests).
        return Followup(resolved, f"{resolved} {', '.join(items)}")
    if analyze(question) and not any(_references(question)):
        return Followup(resolved, resolved)  # "Und wann war das erste Gespräch?" names its topic
    return Followup(resolved, " ".join([resolved, *names(answer, resolved)]))


def resolve(question: str, history: Sequence[dict]) -> str:
    """The question for the answerer: itself, or made self-contained (see `rewrite`)."""
    return rewrite(question, history).question


REWRITE_SYSTEM = (
    "Du formulierst Folgefragen um. Schreibe die letzte Frage des Nutzers so, dass sie ohne das "
    "Gespräch verständlich ist: Ersetze Wörter wie „dort“, „dabei“, „davon“, „diese“ oder „der "
    "zweite“ durch das, worauf sie sich im Gespräch beziehen. Erfinde nichts hinzu. Antworte nur "
    "mit der einen umgeschriebenen Frage.")


def rewrite_with_model(question: str, history: Sequence[dict], generate) -> Followup:
    """`rewrite`, with the language model resolving what the rules found to lean on the history.
    The rules decide whether a rewrite is needed at all; the model's question is taken only if
    it is one question whose every content word comes from the question or the last turn and
    that names what the rules found it to point at (it resolves, it adds nothing). It joins the
    retrieval query; the answerer gets the rules' question. When the check fails or the model
    does, the rules' rewrite stands alone. `generate(messages) -> str` is the model call."""
    rule = rewrite(question, history)
    if rule.question == question.strip():
        return rule
    previous, answer = _last_turn(history)
    prompt = (f"Frage: {previous}\nAntwort: {MARKER.sub('', answer).strip()}\n"
              f"Folgefrage: {question.strip()}\nUmgeschriebene Folgefrage:")
    try:
        text = generate([{"role": "system", "content": REWRITE_SYSTEM},
                         {"role": "user", "content": prompt}])
    except Exception:  # noqa: BLE001 - any model failure leaves the rules' rewrite
        return rule
    lines = (text or "").strip().strip("„“\"").splitlines()
    text = lines[0].strip() if lines else ""  # a blank reply is no rewrite
    items, _ = referent(question, answer, previous)
    if not checked_rewrite(text, question, f"{previous} {answer}", items):
        return rule
    # Retrieval gets the model's question too; the answerer keeps the rules' question: the
    # model's "Welcher der Landkreise Cochem-Zell, Ortenaukreis und Heidekreis ist ...?" made the
    # sentence listing all three outscore the one that says which (and the model answer it).
    return Followup(rule.question, f"{text} {rule.query}")


def checked_rewrite(text: str, question: str, history: str, items: Sequence[str] = ()) -> bool:
    """A model's rewrite is one question, not much longer than question and history allow,
    every content word it uses stands in the question or the history, and it names every item
    the rules found the question to point at ("davon" -> the three Landkreise, not the Städte)."""
    if not text.endswith("?") or text.count("?") != 1 or len(text) > 3 * len(question) + 80:
        return False
    known = set(analyze(question)) | set(analyze(history))
    own = set(analyze(text))
    if not own or not own <= known or own == set(analyze(question)):
        return False
    return all(set(analyze(item)) <= own for item in items)
