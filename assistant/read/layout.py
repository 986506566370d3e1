"""Stage 1 for PDFs, geometry: pypdfium2's characters (with boxes, sizes and weights) into
positioned lines, a double-page spread into its two printed pages, and grids into tables.

Why characters and not `get_text_range()`: the text alone cannot tell a heading from body text,
a footnote from a paragraph, a table row from a column of numbers, or where one of two printed
pages on one PDF page ends. Measured on the shared PDFs (bench/pdf_readers.py): reading every
character's box and weight costs about 4 ms a page, far below the 20 pages/s budget.
"""

from __future__ import annotations

import ctypes
import re
import statistics
from dataclasses import dataclass, field

_BREAKS = {"\r", "\n"}
_WORD = re.compile(r"\S+")


@dataclass
class Line:
    """One visual line (or one table cell) of a page: text and geometry in PDF points."""

    text: str
    x0: float
    x1: float
    y: float  # baseline-ish: bottom of the loose boxes, higher is further up
    size: float  # median loose glyph height, a font-size proxy
    bold: bool
    small_caps: bool = False
    half: int = 0  # 0 left / whole page, 1 right printed page of a spread
    table: int = -1  # a placeholder for layout.tables[table], where that table began

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))


@dataclass
class PageLayout:
    """The lines of one printed page (a PDF page, or one half of a spread) and its label."""

    number: int  # physical page, 1-based
    lines: list[Line]
    width: float
    height: float
    label: str | None = None
    ocr: bool = False
    tables: list[list[list[Line]]] = field(default_factory=list)  # rows of cells, header first
    titles: list[str] = field(default_factory=list)  # per table: the short line right above it


@dataclass
class _Char:
    ch: str
    x0: float
    x1: float
    y0: float
    y1: float
    weight: int
    generated: bool


def _chars(textpage) -> list[_Char]:
    import pypdfium2.raw as raw

    out = []
    rect = raw.FS_RECTF()
    for i in range(textpage.count_chars()):
        code = raw.FPDFText_GetUnicode(textpage, i)
        ch = chr(code) if code else ""
        generated = bool(raw.FPDFText_IsGenerated(textpage, i))
        if ch in _BREAKS or not ch:
            out.append(_Char("\n", 0, 0, 0, 0, 0, True))
            continue
        raw.FPDFText_GetLooseCharBox(textpage, i, ctypes.byref(rect))
        out.append(_Char(ch, rect.left, rect.right, rect.bottom, rect.top,
                         raw.FPDFText_GetFontWeight(textpage, i), generated))
    return out


def _fragments(chars: list[_Char]) -> list[list[_Char]]:
    """Runs of characters on one baseline, in content order; a break, a jump in height or
    backwards, or a wide gap ends a run. A space drawn inside the glyph before it is the
    artefact of a ligature ("Eff ekte") and is dropped."""
    runs: list[list[_Char]] = []
    cur: list[_Char] = []
    last: _Char | None = None
    before: _Char | None = None  # the glyph before `last`
    for c in chars:
        if c.ch == "\n":
            if cur:
                runs.append(cur)
            cur, last, before = [], None, None
            continue
        if c.ch.isspace():
            ligature = last is not None and before is not None and last.x0 == before.x0 \
                and last.x1 == before.x1
            if ligature and c.x0 < last.x1 - 0.3 and not c.generated:
                continue  # one glyph for "ff" and a space drawn inside it: "Eff ekte"
            if cur and cur[-1].ch != " ":
                cur.append(_Char(" ", c.x0, c.x1, last.y0 if last else c.y0,
                                 last.y1 if last else c.y1, 0, True))
            continue
        if last is not None:
            h = max(last.y1 - last.y0, c.y1 - c.y0, 1.0)
            jump = abs(c.y0 - last.y0) > 0.5 * h and abs(c.y1 - last.y1) > 0.5 * h
            gap = c.x0 - last.x1
            if jump or gap < -2 * h or gap > 2.5 * h:
                runs.append(cur)
                cur = []
        cur.append(c)
        before, last = last, c
    if cur:
        runs.append(cur)
    return [r for r in (_trim(r) for r in runs) if r]


def _trim(run: list[_Char]) -> list[_Char]:
    while run and run[-1].ch == " ":
        run = run[:-1]
    while run and run[0].ch == " ":
        run = run[1:]
    return run


def _line(run: list[_Char], half: int) -> Line:
    glyphs = [c for c in run if not c.ch.isspace()]
    heights = sorted(c.y1 - c.y0 for c in glyphs)
    size = heights[len(heights) // 2] if heights else 0.0
    text, small = _small_caps(run, size)
    text = _unspace(text, run)
    bold = sum(c.weight >= 600 for c in glyphs) >= 0.8 * max(1, len(glyphs))
    return Line(text, min(c.x0 for c in glyphs), max(c.x1 for c in glyphs),
                statistics.median(c.y0 for c in glyphs), size, bold, small, half)


def _small_caps(run: list[_Char], size: float) -> tuple[str, bool]:
    """Small capitals as normal words: in a word of capitals, a capital drawn clearly lower than
    the word's first one stands for a lower-case letter ("ÖFFENTLICHES" -> "Öffentliches")."""
    out, found = [], False
    word: list[_Char] = []

    def flush() -> None:
        nonlocal found
        letters = [c for c in word if c.ch.isalpha()]
        if len(letters) >= 3 and all(c.ch.isupper() for c in letters):
            top = max(c.y1 - c.y0 for c in letters)
            low = [c for c in letters if (c.y1 - c.y0) < 0.85 * top]
            if low and len(low) < len(letters):
                found = True
                out.extend(c.ch.lower() if c in low else c.ch for c in word)
                word.clear()
                return
        out.extend(c.ch for c in word)
        word.clear()

    for c in run:
        if c.ch == " ":
            flush()
            out.append(" ")
        else:
            word.append(c)
    flush()
    return "".join(out), found


def _unspace(text: str, run: list[_Char]) -> str:
    """Letter-spaced text ("E r k u n d e n") as words: single letters are joined, and a word
    ends where the gap is clearly wider than the spacing between the letters."""
    tokens = text.split(" ")
    if len(tokens) < 4 or sum(len(t) == 1 for t in tokens) < 0.7 * len(tokens):
        return text
    glyphs = [c for c in run if c.ch != " "]
    gaps = [b.x0 - a.x1 for a, b in zip(glyphs, glyphs[1:], strict=False)]
    if not gaps:
        return text
    usual = statistics.median(gaps)
    words, cur = [], glyphs[0].ch
    for g, c in zip(gaps, glyphs[1:], strict=False):
        if g > 1.8 * usual + 0.5:
            words.append(cur)
            cur = c.ch
        else:
            cur += c.ch
    return " ".join([*words, cur])


def _merge_same_line(lines: list[Line]) -> list[Line]:
    """Rejoin runs of one visual line that the PDF wrote as separate text objects."""
    out: list[Line] = []
    for ln in lines:
        prev = out[-1] if out else None
        if prev and prev.half == ln.half and abs(prev.y - ln.y) < 0.3 * max(prev.size, 1) \
                and -0.5 * ln.size <= ln.x0 - prev.x1 <= 0.8 * max(ln.size, 1):
            glue = "" if ln.x0 - prev.x1 < 0.15 * ln.size else " "
            out[-1] = Line(prev.text + glue + ln.text, prev.x0, ln.x1, prev.y,
                           max(prev.size, ln.size), prev.bold and ln.bold,
                           prev.small_caps or ln.small_caps, prev.half)
        else:
            out.append(ln)
    return out


def page_layouts(page, number: int, label: str | None = None) -> list[PageLayout]:
    """The printed pages of one PDF page: one, or two for a double-page spread."""
    width, height = page.get_size()
    runs = _fragments(_chars(page.get_textpage()))
    spread = width > 1.2 * height and _is_spread(runs, width)
    mid = width / 2
    lines = [_line(r, int(spread and (r[0].x0 + r[-1].x1) / 2 > mid)) for r in runs]
    lines = _merge_same_line([ln for ln in lines if ln.text.strip()])
    lines = _without_overprint(lines)
    if not spread:
        return [PageLayout(number, lines, width, height, label)]
    halves = []
    for h in (0, 1):
        mine = [ln for ln in lines if ln.half == h]
        halves.append(PageLayout(number, mine, mid, height, _printed_number(mine, height)))
    return halves


def _without_overprint(lines: list[Line]) -> list[Line]:
    """Without the same text drawn twice on one spot (fake bold, overprint): same text, same
    line, starting within 2 pt. The same value in two cells of a row ("34 | 34") stays."""
    kept: list[Line] = []
    starts: dict[tuple[str, int], list[float]] = {}  # (text, line) -> where it was drawn
    for ln in lines:
        xs = starts.setdefault((ln.text, round(ln.y)), [])
        if not any(abs(x - ln.x0) < 2 for x in xs):
            xs.append(ln.x0)
            kept.append(ln)
    return kept


def _is_spread(runs: list[list[_Char]], width: float) -> bool:
    """Two printed pages side by side: text on both halves, hardly any run across the fold."""
    mid = width / 2
    left = sum(len(r) for r in runs if r[-1].x1 <= mid)
    right = sum(len(r) for r in runs if r[0].x0 >= mid)
    across = sum(len(r) for r in runs if r[0].x0 < mid - 5 < mid + 5 < r[-1].x1)
    total = left + right + across
    return bool(total) and left > 0.1 * total and right > 0.1 * total and across < 0.03 * total


def _printed_number(lines: list[Line], height: float) -> str | None:
    """The page number printed in the top or bottom margin of a printed page, if any."""
    for ln in lines:
        edge = ln.y < 0.08 * height or ln.y > 0.92 * height
        if edge and re.fullmatch(r"\d{1,4}|[ivxlc]{1,6}", ln.text.strip(), re.I):
            return ln.text.strip()
    return None


def extract_tables(layout: PageLayout) -> None:
    """Move grids of short cells (three rows or more, two columns or more) out of the lines
    into `layout.tables`; the lines keep a placeholder where each table began."""
    rows = _rows([ln for ln in layout.lines if _cell_like(ln)])
    table: list[list[Line]] = []
    found: list[list[list[Line]]] = []
    for row in rows:
        if table and table[-1][0].y - row[0].y > 3 * max(row[0].size, 1):
            if len(table) >= 3:
                found.append(table)
            table = []
        if len(row) >= 2:
            table.append(row)
            continue
        if len(row) == 1 and table and _cell_like(row[0]) and len(table) < 3:
            table.append(row)  # a header cell standing alone ("Punkte" over two columns)
            continue
        if len(table) >= 3:
            found.append(table)
        table = []
    if len(table) >= 3:
        found.append(table)
    found = [t for t in (_dense(t) for t in found) if sum(len(r) >= 2 for r in t) >= 3]
    found = [t for t in found if not _is_contents(t)]
    if not found:
        return
    used = {id(c) for t in found for r in t for c in r}
    first = {min(layout.lines.index(c) for r in t for c in r): k for k, t in enumerate(found)}
    kept = []
    for i, ln in enumerate(layout.lines):
        if i in first:
            kept.append(Line("", ln.x0, ln.x1, ln.y, ln.size, False, half=ln.half, table=first[i]))
        elif id(ln) not in used:
            kept.append(ln)
    layout.titles = [_title(t, [ln for ln in layout.lines if id(ln) not in used]) for t in found]
    layout.lines = kept
    layout.tables = found


def _title(table: list[list[Line]], others: list[Line]) -> str:
    """The short line standing right above a table, over its columns (a state's name above
    its scores): the table's title, whatever the order the PDF wrote them in."""
    cells = [c for r in table for c in r]
    top, size = max(c.y for c in table[0]), max(c.size for c in table[0])
    x0, x1 = min(c.x0 for c in cells), max(c.x1 for c in cells)
    above = [ln for ln in others if 0 < ln.y - top < 4 * size and ln.x0 < x1 and ln.x1 > x0
             and ln.words <= 8 and not ln.text.rstrip().endswith(".")]
    return min(above, key=lambda ln: ln.y - top).text.strip() if above else ""


def _cell_like(c: Line) -> bool:
    prose = c.text.rstrip().endswith(".") and c.words >= 3
    return c.words <= 5 and len(c.text) <= 40 and not prose


def _dense(table: list[list[Line]]) -> list[list[Line]]:
    """The table without cells of a column that fewer than 40 % of its rows fill (text beside
    the table that happens to share a baseline)."""
    columns = _columns([c for r in table for c in r])
    filled = [sum(any(_col(c, columns) == k for c in r) for r in table) for k in range(len(columns))]
    keep = {k for k, n in enumerate(filled) if n >= max(2, 0.4 * len(table))}
    rows = [[c for c in r if _col(c, columns) in keep] for r in table]
    return [r for r in rows if r]


def _is_contents(table: list[list[Line]]) -> bool:
    """A table of contents laid out as a grid: the last cell of most rows is a rising page number."""
    numbers = [int(r[-1].text) for r in table if len(r) >= 2 and r[-1].text.strip().isdigit()]
    rising = sum(b > a for a, b in zip(numbers, numbers[1:], strict=False))
    return len(numbers) >= 0.6 * len(table) and rising >= 0.8 * max(1, len(numbers) - 1)


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped by baseline, top to bottom; each row's cells left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: -ln.y):
        if rows and abs(rows[-1][0].y - ln.y) < 0.35 * max(ln.size, 1):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [sorted(r, key=lambda c: c.x0) for r in rows]


def table_lines(table: list[list[Line]], title: str = "") -> list[str]:
    """A table as lines a reader can quote: the header (after the table's title, if any), then
    one line per row that names every value with its column's header ("Berlin – Punkte 2025:
    49, Veränderung: +4.")."""
    columns = _columns([c for r in table for c in r])
    header_rows = [r for r in table[:3] if sum(c.bold for c in r) > len(r) / 2] or table[:1]
    body = [r for r in table if r not in header_rows]
    names = [" ".join(_cell(c) for r in header_rows for c in r if _col(c, columns) == k)
             for k in range(len(columns))]
    label_col = next((k for k in range(len(columns))
                      if sum(not _numeric(c.text) for r in body for c in r if _col(c, columns) == k)
                      > 0.5 * len(body)), 0)
    header = " | ".join(n or "–" for n in names)
    out = [f"{title}: {header}" if title else header]
    for r in body:
        cells = {_col(c, columns): _cell(c) for c in r}
        label = cells.pop(label_col, "")
        parts = [f"{names[k]}: {v}" if names[k] else v for k, v in sorted(cells.items())]
        out.append(f"{label} – {', '.join(parts)}." if label else f"{', '.join(parts)}.")
    return out


def _cell(c: Line) -> str:
    return re.sub(r"[\ufffe\u0002]", "-", c.text).strip()


def _columns(cells: list[Line]) -> list[float]:
    """Left edges of the table's columns (cells starting within a glyph height share one)."""
    edges: list[float] = []
    for x in sorted(c.x0 for c in cells):
        if not edges or x - edges[-1] > 1.5 * max(c.size for c in cells):
            edges.append(x)
    return edges


def _col(c: Line, columns: list[float]) -> int:
    return min(range(len(columns)), key=lambda k: abs(columns[k] - c.x0))


def _numeric(s: str) -> bool:
    return bool(re.fullmatch(r"[\s\d.,%+\-–=/€]*", s))
