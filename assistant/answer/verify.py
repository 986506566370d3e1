"""Claim verification, a pure stage: every sentence of a generated answer must stand in the
passages it cites.

A sentence is supported when its facts (numbers, dates, capitalized words after the first
except abstract nouns such as "-ung", "-heit", and command or file names such as "sshd_config")
all occur in the cited passages, after the same analysis as retrieval, and at least half of its
content words do. A wrong or missing [n] is
corrected when another passage supports the sentence; an unsupported sentence is removed, never
shown as fact. No model involved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.citations import MARKER
from assistant.text.analyzer import CODE_NAME, analyze, marks
from assistant.text.sentences import sentence_spans
from assistant.types import Hit

_ENUMERATOR = re.compile(r"^(?:\d{1,2}[.)]|[•▪◦‣∙·*–—-])\s+")  # a list item's number or bullet
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
WINDOW = 3  # sentences of a passage within which the facts of one claim must stand together
FACT_WORD = re.compile(r"\w+(?:[-.]\w+)*")  # a word, with its inner hyphens and dots: "E-Akte", "3.5"
# Capitalized German abstract nouns are no names: they are checked by the content overlap only.
_COMMON_NOUN = re.compile(r"(ung|heit|keit|schaft|tion|ität|nis|tum|ismus|ment|anz|enz|ik|ur)(en|s)?$")


@dataclass(frozen=True)
class SentenceCheck:
    """What verification decided about one sentence of the generated answer."""

    sentence: str
    cited: tuple[int, ...]  # passage numbers after correction
    supported: bool
    unsupported_facts: tuple[str, ...] = ()
    corrected: bool = False

    @property
    def shown(self) -> str:
        """The sentence as it is shown when supported: its text, then its passage numbers."""
        return self.sentence + " " + "".join(f"[{n}]" for n in self.cited)


@dataclass(frozen=True)
class Verification:
    """The outcome over the whole answer, reported in the JSON output."""

    checks: tuple[SentenceCheck, ...]

    @property
    def removed(self) -> int:
        return sum(not c.supported for c in self.checks)

    def to_json(self) -> dict:
        return {
            "sentences": len(self.checks),
            "kept": len(self.checks) - self.removed,
            "removed": self.removed,
            "markers_corrected": sum(c.corrected for c in self.checks),
            "removed_sentences": [{"sentence": c.sentence, "facts": list(c.unsupported_facts)}
                                  for c in self.checks if not c.supported],
        }


def claim_of(sentence: str) -> str:
    """The sentence without a list item's number or bullet ("1. Das Modellvorhaben …": the 1
    is no claim)."""
    return _ENUMERATOR.sub("", sentence)


def facts(sentence: str) -> list[tuple[str, set[str]]]:
    """The checkable facts of a sentence, each with the analyzed tokens that prove it: the tokens
    of the fact that the sentence as a whole also yields, since a passage is analyzed whole (in
    "if=debian -edu-amd64" the identifier is "amd64", not the "edu-amd64" the word alone gives).
    """
    out = []
    in_context = set(analyze(sentence))

    def tokens(piece: str, token: str = "") -> set[str]:
        alone = set(analyze(piece))
        return (alone & in_context) or ({token} if token else alone)
    # a date, a paragraph reference ("§ 12a") and an identifier ("BAU-DA-2/2024") are one fact
    # each, found as the analyzer finds them (a date inside an identifier is none)
    found = marks(sentence)
    whole = [(a, b) for a, b, *_ in found]
    for a, b, token, _ in found:  # the mark's own token where the piece alone reads otherwise
        out.append((sentence[a:b], tokens(sentence[a:b], token)))
    bare = sentence
    for a, b in reversed(whole):
        bare = bare[:a] + " " + bare[b:]
    words = FACT_WORD.findall(bare)
    for i, w in enumerate(words):
        is_number = any(ch.isdigit() for ch in w)
        is_name = (i > 0 and w[:1].isupper() and not w.isupper() and len(w) > 2
                   and not _COMMON_NOUN.search(w))
        if (is_number or is_name or (w.isupper() and len(w) > 1) or CODE_NAME.fullmatch(w)) \
                and analyze(w):
            out.append((w, tokens(w)))
    return out


@dataclass(frozen=True)
class _Passage:
    """A passage's analyzed terms, whole and in windows of three consecutive sentences."""

    terms: frozenset[str]
    windows: tuple[frozenset[str], ...]
    doc: str = ""
    start: int = 0  # character offsets of the passage in its document
    end: int = 0
    heading: bool = False  # one line without a closing period: a title, not a statement


def _passage(hit: Hit) -> _Passage:
    c = hit.chunk
    sentences = [frozenset(analyze(c.text[a:b])) for a, b in sentence_spans(c.text)] or [frozenset()]
    windows = tuple(frozenset().union(*sentences[i:i + WINDOW]) for i in range(len(sentences)))
    heading = len(sentences) == 1 and not c.text.rstrip().endswith((".", "!", "?"))
    return _Passage(frozenset(analyze(c.text)), windows, c.doc_id, c.start, c.end, heading)


def _spanning_pair(a: _Passage, b: _Passage) -> _Passage | None:
    """The two passages as one, where one claim may span both: a heading with any other, or
    consecutive pieces of one document across their boundary.
    Two separate paragraphs are never joined: that is how a true date of one event gets
    attached to another."""
    terms = a.terms | b.terms
    if a.heading or b.heading:
        return _Passage(terms, tuple(w | v for w in a.windows for v in b.windows))
    first, second = sorted((a, b), key=lambda p: p.start)
    if first.doc != second.doc or second.start - first.end > 2:
        return None
    tail = frozenset().union(*first.windows[-2:])  # its last two sentences
    return _Passage(terms, (tail | second.windows[0],))


def _supports(sentence: str, passages: Sequence[_Passage]) -> tuple[bool, tuple[str, ...]]:
    """All facts stand together in one window of one passage (a date attached to another event
    a paragraph away does not count), and half the content words occur in the passages."""
    found = facts(sentence)
    windows = [w for p in passages for w in p.windows]
    best = max(windows, key=lambda w: sum(toks <= w for _, toks in found), default=frozenset())
    missing = tuple(f for f, toks in found if not toks <= best)
    pool = frozenset().union(*(p.terms for p in passages)) if passages else frozenset()
    content = set(analyze(sentence))
    overlap = len(content & pool) >= 0.5 * len(content) if content else False
    return not missing and overlap, missing


def prepare(hits: Sequence[Hit]) -> list[_Passage]:
    """The analyzed passages [1]..[n] that `check_sentence` checks against (once per answer)."""
    return [_passage(h) for h in hits]


def check_sentence(raw: str, passages: Sequence[_Passage]) -> SentenceCheck | None:
    """Verify one answer sentence (with its [n] markers) against `passages`; None when it holds
    nothing but markers. A wrong or missing number is corrected to the passage that supports it."""
    cited = [int(n) for m in MARKER.finditer(raw) for n in re.split(r"\s*,\s*", m.group(1))]
    sentence = MARKER.sub("", raw).strip()
    if not sentence:
        return None
    valid = [n for n in dict.fromkeys(cited) if 1 <= n <= len(passages)]
    claim = claim_of(sentence)
    ok, missing = _supports(claim, [passages[n - 1] for n in valid])
    corrected = False
    if not ok:  # a wrong or missing number: are other passages the source?
        found = _sources(claim, passages)
        if found:
            valid, ok, missing, corrected = found, True, (), True
    corrected = corrected or valid != list(dict.fromkeys(cited))
    return SentenceCheck(sentence, tuple(valid), ok, missing, corrected)


def _sources(sentence: str, passages: Sequence[_Passage]) -> list[int]:
    """One passage that supports the sentence, else two (a heading and its body, say)."""
    single = next((n for n, p in enumerate(passages, 1) if _supports(sentence, [p])[0]), None)
    if single is not None:
        return [single]
    for i in range(len(passages)):
        for j in range(i + 1, len(passages)):
            merged = _spanning_pair(passages[i], passages[j])
            if merged is not None and _supports(sentence, [merged])[0]:
                return [i + 1, j + 1]
    return []


def sentences_with_markers(text: str) -> list[tuple[int, int]]:
    """Sentence spans that include the [n] markers following each sentence: "… teil. [1] Herr
    Lühr …" gives the [1] to the sentence before it, as the prompt asks the model to write."""
    out: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        lead = _LEADING_MARKERS.match(text, a, b)
        if out and lead:
            out[-1] = (out[-1][0], lead.end())
            a = lead.end() + len(text[lead.end():b]) - len(text[lead.end():b].lstrip())
        if a < b:
            out.append((a, b))
    return out


def support_span(claims: Sequence[str], text: str) -> tuple[int, int] | None:
    """The span of `text` a user needs to check `claims` at a glance: from the first to the last
    sentence holding one of their facts (each taken nearest to the sentence that shares most of
    the claim's words) or most of a claim's words. None when no sentence holds any of them."""
    spans = sentence_spans(text)
    terms = [frozenset(analyze(text[a:b])) for a, b in spans]
    need: list[int] = []
    for claim in claims:
        claim = claim_of(MARKER.sub("", claim))
        content = set(analyze(claim))
        if not terms or not content:
            continue
        anchor = max(range(len(terms)), key=lambda i: (len(content & terms[i]), -i))
        if content & terms[anchor]:
            need.append(anchor)
        for _, toks in facts(claim):
            holding = [i for i, t in enumerate(terms) if toks <= t]
            if holding:
                need.append(min(holding, key=lambda i: abs(i - anchor)))
            else:  # its words spread over neighbouring sentences, as the verifier's window allows
                runs = [(i, j) for i in range(len(terms)) for j in range(i, min(i + WINDOW, len(terms)))
                        if toks <= frozenset().union(*terms[i:j + 1])]
                if runs:
                    i, j = min(runs, key=lambda r: (r[1] - r[0], abs(r[0] - anchor)))
                    need += [i, j]
    if not need:
        return None
    return spans[min(need)][0], spans[max(need)][1]
