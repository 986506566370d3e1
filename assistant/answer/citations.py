"""Citations, a pure stage: passages are numbered [1]..[n] by retrieval rank; `cite` parses the
markers out of an answer, drops numbers that do not exist, renumbers the rest in order of first
appearance and returns title, page and the verbatim quote of each. No model involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from assistant.text.analyzer import analyze
from assistant.text.sentences import sentence_spans
from assistant.types import Citation, Hit

MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")  # "[1]", "[1, 3]", with the space before


class Numbering:
    """Passage numbers [n] to citation numbers in order of first appearance, kept across calls:
    renumbering an answer piece by piece gives exactly what `cite` gives for the whole."""

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self.order: dict[int, int] = {}  # passage number -> citation number

    def apply(self, text: str, first_seen: Callable[[int, int], None] | None = None) -> str:
        """`text` with its markers renumbered; numbers beyond the passages dropped, never invented.
        `first_seen(n, at)` is told of each passage cited for the first time and where."""
        def renumber(m: re.Match) -> str:
            kept = []
            for raw in re.split(r"\s*,\s*", m.group(1)):
                n = int(raw)
                if not 1 <= n <= self.passages:
                    continue
                if n not in self.order:
                    self.order[n] = len(self.order) + 1
                    if first_seen is not None:
                        first_seen(n, m.start())
                kept.append(self.order[n])
            return " " + "".join(f"[{k}]" for k in dict.fromkeys(kept)) if kept else ""

        return MARKER.sub(renumber, text)


def cite(text: str, hits: Sequence[Hit],
         quotes: Mapping[int, tuple[int, int]] | None = None) -> tuple[str, tuple[Citation, ...]]:
    """Renumber the [n] markers of `text` against `hits` and build one Citation per cited passage.

    `quotes` may give, per passage number, the (start, end) span of the chunk text to quote;
    otherwise the chunk sentence that best matches the citing sentence is quoted.
    """
    numbering = Numbering(len(hits))
    spans: dict[int, tuple[int, int]] = {}

    def quote(n: int, at: int) -> None:
        spans[n] = (quotes or {}).get(n) or best_sentence(hits[n - 1].chunk.text,
                                                          citing_sentence(text, at))

    new_text = numbering.apply(text, quote).strip()
    cites = [passage_citation(k, hits[n - 1], spans[n])
             for n, k in sorted(numbering.order.items(), key=lambda kv: kv[1])]
    return new_text, tuple(cites)


def passage_citation(n: int, hit: Hit, span: tuple[int, int] | None = None) -> Citation:
    """Citation [n] of a passage, quoting `span` of it (default: all of it) with its page."""
    c = hit.chunk
    a, b = span or (0, len(c.text))
    page = c.page_at(a)
    label = dict(c.page_labels).get(page) if page is not None else None
    return Citation(n, c.title, c.source, page, c.text[a:b], c.id, label, c.ocr, c.section)


def citing_sentence(text: str, marker_at: int) -> str:
    """The sentence of `text` that a marker at `marker_at` belongs to (markers removed). An
    earlier marker ends the sentence before it, also where a quoted list item or command has no
    full stop ("... home0 [1] – Arbeitsplatzrechner: 30 GiB. [2]")."""
    start = 0
    for m in reversed([m for m in MARKER.finditer(text, 0, marker_at) if m.end() <= marker_at]):
        if MARKER.sub("", text[m.end():marker_at]).strip():  # "[1] [2]": both cite one sentence
            start = m.end()
            break
    before = MARKER.sub("", text[start:marker_at])
    spans = sentence_spans(before)
    return before[spans[-1][0]:spans[-1][1]] if spans else before


def best_sentence(passage: str, claim: str) -> tuple[int, int]:
    """Span of the sentence of `passage` sharing the most analyzed terms with `claim`; a claim
    term that begins a longer word of the sentence counts half ("zusammen" in
    "zusammengeschlossen", as in retrieval's coverage)."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    want = set(analyze(claim))

    def shared(span: tuple[int, int]) -> tuple[float, int]:
        terms = set(analyze(passage[span[0]:span[1]]))
        partial = sum(any(t.startswith(w) for t in terms) for w in want - terms if len(w) >= 5)
        return len(want & terms) + 0.5 * partial, -span[0]

    return max(spans, key=shared)
