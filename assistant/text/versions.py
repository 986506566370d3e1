"""Versions of a document named in its title ("Satzung ... – Fassung vom 14.11.2023 (gültig ab
01.01.2024)"): retrieval finds documents by their title without the version, the answer stage
picks the asked version."""

from __future__ import annotations

import re

_VERSION = re.compile(r"[\s–—,-]*\(?\b(?:Fassung vom|Stand|gültig ab|in Kraft ab|vom)\b:?\s*"
                      r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\)?", re.I)


def version_of(title: str) -> tuple[str, int] | None:
    """A versioned title as (the title without its version, the year it is valid from): the
    latest date it names ("Fassung vom 14.11.2023 (gültig ab 01.01.2024)" -> 2024)."""
    dates = [(int(y), int(m), int(d)) for d, m, y in _VERSION.findall(title)]
    if not dates:
        return None
    return _VERSION.sub("", title).strip(" –—,-"), max(dates)[0]
