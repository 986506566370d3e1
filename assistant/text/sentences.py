"""German text: sentences."""


from __future__ import annotations

import re

from assistant.text.dates import MONTHS

# Lower-cased abbreviations (without the final dot) after which a period never ends a sentence.
ABBREVIATIONS = frozenset(
    """
    abb abs abschn allg anh anm art aufl bd bearb bes betr bspw bzgl bzw ca chr dgl dipl dr dt
    ebd ehem entspr etc ev evtl f ff fa fr frl gem gegr geb ges gg ggf hr hrsg hg inkl insb
    ing jh jhd jr kap kfm lfd lt max mdb mdl min mio mrd nr nrn o od pkt prof rd s sen sog
    spez st std str tel tsd u usw v vgl vs z zb zt ziff zzgl bzgl jan feb mär apr jun jul aug
    sep sept okt nov dez mo di mi do sa so
    """.split()
)


_REFERENCE_WORDS = frozenset({"s", "nr", "abs", "art", "kap", "§", "ziff", "seite", "nummer"})
_BOUNDARY = re.compile(r"[.!?…]+[\"'“”»«)\]]*(?=\s+)")
_LAST_TOKEN = re.compile(r"(\S+)$")
# A table-of-contents line: dot leaders and a page number (arabic or roman).
DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlcIVXLC]+\s*$")
_PROSE_END = re.compile(r"[.!?:;)\"“”»]$")
_BULLET = re.compile(r"^\s*(?:[•▪◦‣∙·*–—-]|\d{1,2}[.)]\s|0\d\s+(?=\S))")


def _is_boundary(text: str, end: int) -> bool:
    """Decide whether the punctuation run ending at `end` closes a sentence."""
    before = text[:end].rstrip("\"'“”»«)]")
    if before.endswith(("!", "?", "…")):
        return True
    token = _LAST_TOKEN.search(before[:-1]) if before.endswith(".") else None
    word = token.group(1).lstrip("(\"'„“»«[") if token else ""
    rest = text[end:].lstrip()
    nxt = rest.split(" ", 1)[0].strip(".,;:()\"'„“»«") if rest else ""
    if not rest:
        return True
    if rest[0].islower() or rest[0] in ",;:":
        return False  # "z. B. die ...", "bzw. der ..."
    low = word.lower()
    if low in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False  # "Dr. Brockmann", "z. B. Halle", "S. 12"
    if "." in word and all(len(p) <= 2 for p in word.split(".") if p):
        return False  # "v.l.n.r.", "u.a.", "z.B."
    if word.isdigit() and len(word) <= 2:
        prev = before[: -len(word) - 1].rstrip().rsplit(" ", 1)[-1].lower().rstrip(".")
        if prev not in _REFERENCE_WORDS:
            return False  # German ordinals: "13. Juni", "2. Staffel"; not "Abs. 2. Dann"
    return not (word.isdigit() and nxt.lower() in MONTHS)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the German sentences in `text`; newlines always separate."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        start = 0
        for m in _BOUNDARY.finditer(line):
            if _is_boundary(line, m.end()):
                _add_span(spans, line, offset, start, m.end())
                start = m.end()
        _add_span(spans, line, offset, start, len(line))
        offset += len(line) + 1
    return spans


def _add_span(spans: list[tuple[int, int]], line: str, offset: int, a: int, b: int) -> None:
    seg = line[a:b]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    if seg.strip():
        spans.append((offset + a + lead, offset + b - trail))


def split_sentences(text: str) -> list[str]:
    """The German sentences of `text` (see sentence_spans)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def ends_like_prose(line: str) -> bool:
    """Whether a line ends as a sentence or clause does (".", "!", "?", ":", ";", a closing
    bracket or quote): a heading, a caption or a line wrapped mid-sentence does not."""
    return bool(_PROSE_END.search(line))


def is_bullet(line: str) -> bool:
    """True for list items: "•", "-", "1." or "1)" at the start of a line."""
    return bool(_BULLET.match(line))
