"""German compounds split into words an index knows, for BM25 (assistant.indexing.lexical).

"Baugenehmigungsgebührensatzung" -> bau, genehm, gebuhr, satzung, when the index holds those
stems: every part must be a known word, so no word list is needed and nothing is split into
syllables. The word is split as written (its stem may have lost an ending: "...satz"), and the
parts are stems as analyze() makes them, so a question's "Genehmigung zum Bauen" meets them.

Why not a splitter from PyPI: compound-split (CharSplit's n-gram probabilities) is GPL-3, takes
18 s and 3.4 GB of memory to import, and splits once, by letter statistics ("Rath" + "aus");
"charsplit" on PyPI is an unrelated image tool; compound-word-splitter needs enchant dictionaries.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

from assistant.text.analyzer import STOPWORDS, stem

# German linking elements (Fugen): "Genehmigung-s-gebühr", "Kinder-garten", "Tag-es-ordnung".
LINKS = ("", "s", "es", "n", "en", "e", "er")
MIN_WORD = 6  # shorter words are no compounds worth splitting
MIN_PART = 3  # "bau", "amt", "rat"
MAX_PARTS = 4


_LETTERS = re.compile(r"[^\W\d_]+")


def words(text: str, nouns: bool = True) -> list[str]:
    """The lower-cased words of `text` that may be compounds, each occurrence: with `nouns`,
    only capitalized ones (German nouns; verbs and adjectives end in inflections that split
    off as false parts: "sprech" + "end")."""
    found = _LETTERS.findall(unicodedata.normalize("NFKC", text))
    return [w.lower() for w in found if (w[0].isupper() or not nouns) and splittable(w.lower())]


def splittable(word: str) -> bool:
    """Whether a lower-cased word may be a compound: long enough, letters only, no stopword."""
    return len(word) >= MIN_WORD and word.isalpha() and word not in STOPWORDS


def _from(word: str, i: int) -> list[tuple[int, str]]:
    """(end, stem) of each piece that may begin at position i: a part as written, less a
    linking element unless it ends the word, stemmed as analyze() stems words."""
    n, whole = len(word), stem(word)
    found: set[tuple[int, str]] = set()
    for j in range(i + MIN_PART, n + 1):
        piece = word[i:j]
        for link in LINKS if j < n else ("",):
            if piece.endswith(link) and len(piece) - len(link) >= MIN_PART:
                found.add((j, stem(piece[: len(piece) - len(link)])))
    return sorted((j, s) for j, s in found if len(s) >= MIN_PART and s != whole
                  and s not in STOPWORDS)  # "nach" + "geben" is no compound


def splits(words: Iterable[str], counts: Callable[[set[str]], Mapping[str, int]]
           ) -> dict[str, list[str]]:
    """The compounds among lower-cased words -> their parts (see split). `counts` tells for a
    set of stems how many passages hold each (0 or missing: unknown); it is asked once per part
    position, only for the pieces that follow known ones."""
    edges: dict[str, dict[int, list[tuple[int, str]]]] = {w: {} for w in words if splittable(w)}
    count: dict[str, int] = dict(counts({stem(w) for w in edges}))
    frontier = {w: {0} for w in edges}
    for _ in range(MAX_PARTS):
        for w, at in frontier.items():
            edges[w].update((i, _from(w, i)) for i in at)
        need = {s for w, at in frontier.items() for i in at for _, s in edges[w][i]} - count.keys()
        count.update(dict.fromkeys(need, 0) | dict(counts(need)))
        frontier = {w: nxt for w, at in frontier.items()
                    if (nxt := {j for i in at for j, s in edges[w][i]
                                if count[s] > 0 and j < len(w) and j not in edges[w]})}
    return {w: parts for w, e in edges.items() if (parts := _best(w, e, count))}


def split(word: str, count: Mapping[str, int]) -> list[str]:
    """The parts of a compound, all of them known stems (count > 0); [] if it stays whole.

    Koehn and Knight's rule (2003): the split whose parts have the highest geometric mean of
    their counts wins, and only if that mean reaches the count of the whole word; so a frequent
    word stays whole ("gebuhr", not "geb" + "uhr") and a rare compound of frequent words splits.
    On a tie the fewer parts win."""
    return splits([word], lambda need: {s: count.get(s, 0) for s in need}).get(word, [])


def _best(word: str, edges: Mapping[int, list[tuple[int, str]]], count: Mapping[str, int]
          ) -> list[str]:
    n = len(word)
    # best[k][i]: (sum of log counts, parts) of the best split of word[i:] into k parts
    best: list[list[tuple[float, list[str]] | None]] = [[None] * (n + 1) for _ in range(MAX_PARTS + 1)]
    best[0][n] = (0.0, [])
    for k in range(1, MAX_PARTS + 1):
        for i in sorted(edges, reverse=True):
            for j, s in edges[i]:
                rest = best[k - 1][j]
                if rest is None or count.get(s, 0) <= 0:
                    continue
                score = rest[0] + math.log(count[s])
                if best[k][i] is None or score > best[k][i][0]:  # type: ignore[index]
                    best[k][i] = (score, [s, *rest[1]])
    top: tuple[float, list[str]] = (-math.inf, [])
    for k in range(2, MAX_PARTS + 1):
        b = best[k][0]
        if b is not None and b[0] / k > top[0] + 1e-9:
            top = (b[0] / k, b[1])
    whole = count.get(stem(word), 0)
    whole = math.log(whole) if whole > 0 else -math.inf
    return list(dict.fromkeys(top[1])) if top[0] >= whole - 1e-9 else []
