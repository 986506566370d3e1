"""Question sets (JSONL, see evals/README.md) and the per-item check of an Answer.

An item passes when the answer (a) refuses exactly when `refuse` is true, (b) contains one
alternative of every `terms` group, and (c) cites a quote that overlaps the expected `quote`
(and names the expected `page`, if given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.types import Answer


@dataclass(frozen=True)
class Item:
    """One evaluation question with what a correct answer must show."""

    id: str
    question: str
    terms: tuple[tuple[str, ...], ...] = ()
    quote: str = ""
    page: int | None = None
    refuse: bool = False


@dataclass
class Verdict:
    """The outcome for one item: passed or not, and why not."""

    item: Item
    answer: Answer
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_items(path: Path) -> list[Item]:
    """Read a JSONL question set; blank lines and lines starting with // are skipped."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("//"):
            d = json.loads(line)
            d["terms"] = tuple(tuple(g) for g in d.get("terms", ()))
            items.append(Item(**d))
    return items


def check(item: Item, answer: Answer) -> Verdict:
    """Compare an answer with the item's expectations."""
    v = Verdict(item, answer)
    if item.refuse != answer.refused:
        v.problems.append("hätte ablehnen müssen" if item.refuse else "unberechtigt abgelehnt")
        return v
    if item.refuse:
        return v
    text = answer.text.lower()
    for group in item.terms:
        if not any(t.lower() in text for t in group):
            v.problems.append(f"fehlt: {' / '.join(group)}")
    if item.quote and not any(_overlaps(item.quote, c.quote) for c in answer.citations):
        v.problems.append(f"Zitat nicht belegt: {item.quote!r}")
    if item.page is not None and not any(c.page == item.page for c in answer.citations):
        pages = [c.page for c in answer.citations]
        v.problems.append(f"Seite {item.page} nicht zitiert (zitiert: {pages})")
    return v


def _overlaps(expected: str, quote: str) -> bool:
    return expected.lower() in quote.lower() or quote.lower() in expected.lower() and len(quote) > 20
