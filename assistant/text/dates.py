"""German text: dates."""


from __future__ import annotations

import re

MONTHS = {
    "januar": 1, "jänner": 1, "jan": 1, "january": 1,
    "februar": 2, "feb": 2, "february": 2,
    "märz": 3, "maerz": 3, "mär": 3, "mrz": 3, "march": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "october": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "dez": 12, "december": 12, "dec": 12,
}
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)

_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
# not inside a version or address ("pGina 3.9.9.12", "10.0.16.20")
_DATE_NUMERIC = re.compile(r"(?<!\d\.)\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4}|\d{2})\b(?!\.\d)")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DATE_WORD = re.compile(
    rf"\b(\d{{1,2}})\.?\s*({_MONTH_RE})\.?(?:\s+(\d{{4}}))?(?![a-zäöü])", re.IGNORECASE
)
_DATE_EN = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{4}})\b", re.IGNORECASE)
_SLASH_MONTH_YEAR = re.compile(r"\b(\d{1,2})/(\d{4})\b")


def _year(y: str) -> int:
    n = int(y)
    return n + 2000 if n < 100 and len(y) == 2 else n


def find_dates(text: str) -> list[tuple[int, int, int | None, int, int | None]]:
    """Dates in `text` as (start, end, year, month, day); year or day may be None."""
    found: list[tuple[int, int, int | None, int, int | None]] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match, y: int | None, mo: int, d: int | None) -> None:
        if not 1 <= mo <= 12 or (d is not None and not 1 <= d <= 31):
            return
        if any(a < m.end() and m.start() < b for a, b in taken):
            return
        taken.append((m.start(), m.end()))
        found.append((m.start(), m.end(), y, mo, d))

    for m in _DATE_ISO.finditer(text):
        add(m, int(m[1]), int(m[2]), int(m[3]))
    for m in _DATE_NUMERIC.finditer(text):
        add(m, _year(m[3]), int(m[2]), int(m[1]))
    for m in _DATE_WORD.finditer(text):
        add(m, int(m[3]) if m[3] else None, MONTHS[m[2].lower()], int(m[1]))
    for m in _DATE_EN.finditer(text):
        add(m, int(m[3]), MONTHS[m[1].lower()], int(m[2]))
    for m in _MONTH_YEAR.finditer(text):
        add(m, int(m[2]), MONTHS[m[1].lower()], None)
    for m in _SLASH_MONTH_YEAR.finditer(text):
        add(m, int(m[2]), int(m[1]), None)
    return sorted(found)


def date_tokens(year: int | None, month: int, day: int | None) -> list[str]:
    """Canonical index tokens for a date, so every notation of it meets the others."""
    toks = []
    if year and day:
        toks.append(f"d{year:04d}{month:02d}{day:02d}")
    if year:
        toks += [f"m{year:04d}{month:02d}", str(year)]
    if day:
        toks.append(f"dm{month:02d}{day:02d}")
    return toks


def spell_out_dates(text: str) -> str:
    """Rewrite numeric dates the way German prose writes them: "13.6.2016" -> "13. Juni 2016"."""
    out, last = [], 0
    for a, b, y, mo, d in find_dates(text):
        out.append(text[last:a])
        words = f"{d}. " if d else ""
        words += MONTH_NAMES[mo - 1] + (f" {y}" if y else "")
        out.append(words)
        last = b
    out.append(text[last:])
    return "".join(out)
