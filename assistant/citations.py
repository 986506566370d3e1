"""Citations, a pure stage: passages are numbered [1]..[n] by retrieval rank; `cite` parses the
markers out of an answer, drops numbers that do not exist, renumbers the rest in order of first
appearance and returns title, page and the verbatim quote of each. No model involved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from assistant.text import analyze, sentence_spans
from assistant.types import Citation, Hit

_MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")


def cite(text: str, hits: Sequence[Hit],
         quotes: Mapping[int, tuple[int, int]] | None = None) -> tuple[str, tuple[Citation, ...]]:
    """Renumber the [n] markers of `text` against `hits` and build one Citation per cited passage.

    `quotes` may give, per passage number, the (start, end) span of the chunk text to quote;
    otherwise the chunk sentence that best matches the citing sentence is quoted.
    """
    order: dict[int, int] = {}
    spans: dict[int, tuple[int, int]] = {}

    def renumber(m: re.Match) -> str:
        kept = []
        for raw in re.split(r"\s*,\s*", m.group(1)):
            n = int(raw)
            if not 1 <= n <= len(hits):
                continue  # a passage that does not exist: drop the marker, never invent one
            if n not in order:
                order[n] = len(order) + 1
                claim = citing_sentence(text, m.start())
                spans[n] = (quotes or {}).get(n) or best_sentence(hits[n - 1].chunk.text, claim)
            kept.append(order[n])
        return " " + "".join(f"[{k}]" for k in dict.fromkeys(kept)) if kept else ""

    new_text = _MARKER.sub(renumber, text).strip()
    cites = []
    for n, k in sorted(order.items(), key=lambda kv: kv[1]):
        cites.append(passage_citation(k, hits[n - 1], spans[n]))
    return new_text, tuple(cites)


def passage_citation(n: int, hit: Hit, span: tuple[int, int] | None = None) -> Citation:
    """Citation [n] of a passage, quoting `span` of it (default: all of it) with its page."""
    c = hit.chunk
    a, b = span or (0, len(c.text))
    page = c.page_at(a)
    label = dict(c.page_labels).get(page) if page is not None else None
    return Citation(n, c.title, c.source, page, c.text[a:b], c.id, label, c.ocr)


def citing_sentence(text: str, marker_at: int) -> str:
    """The sentence of `text` that a marker at `marker_at` belongs to (markers removed)."""
    before = _MARKER.sub("", text[:marker_at])
    spans = sentence_spans(before)
    return before[spans[-1][0]:spans[-1][1]] if spans else before


def best_sentence(passage: str, claim: str) -> tuple[int, int]:
    """Span of the sentence of `passage` sharing the most analyzed terms with `claim`."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    want = set(analyze(claim))
    return max(spans, key=lambda s: (len(want & set(analyze(passage[s[0]:s[1]]))), -s[0]))
