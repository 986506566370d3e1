"""A cited quote on its PDF page: where it stands (pdfium's character boxes) and the page as a PNG
with those boxes highlighted, for the sources panel.

Locating: the quote comes from our reader's text (NFKC, soft hyphens removed, words hyphenated
at a line end rejoined, whitespace collapsed), the boxes from pdfium's raw characters. Both sides
are folded to one key of letters and digits (NFKC, case-folded; spaces, hyphens, punctuation
and line breaks dropped), in which the quote is looked up; each key character remembers the
page character it came from, so a match maps back to character boxes. A quote that runs onto
the next page is split where its first part ends the one page and its rest begins the other.
A quote that is not found, or too short to tell, gets no box at all: no mark rather than a wrong
one. A sentence printed twice on a page is marked twice; a short quote found twice is not.

Chosen over PDF.js (measured in ui/README.md): pdfium is the reader already, draws a page in
about 50-120 ms, needs no JavaScript bundle and works offline as it is. pdfium is not
thread-safe, not even across documents: every call here holds `PDFIUM`.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.read.pdf import PDFIUM

MIN_KEY = 4  # letters and digits a quote (or each part of one across a page break) needs
REPEATED = 20  # letters and digits a quote found more than once on its page needs to be marked
PAD = 1.0  # points around each line box
MARGIN = 18.0  # points of page kept left and right of the text in the image
TILT = 0.03  # radians a character may lean and still get a box (rotated text gets none)
COLOR = (255, 222, 70)  # multiplied into the page: white turns yellow, black text stays black
EDGE = (214, 120, 0)
WIDTH = 900  # pixels of a rendered page; the panel shows it scaled down, a click opens the PDF


@dataclass(frozen=True)
class Box:
    """A highlighted rectangle of one line of the quote, in PDF points (origin bottom left)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def json(self) -> list[float]:
        return [round(v, 2) for v in (self.x0, self.y0, self.x1, self.y1)]


@dataclass(frozen=True)
class PageText:
    """One page's characters, their folded key with the character index behind each key
    character, the loose box of every character (None where pdfium has none), and its size."""

    chars: str
    key: str
    index: tuple[int, ...]
    boxes: tuple[tuple[float, float, float, float] | None, ...]
    width: float
    height: float


class PageError(Exception):
    """A page that cannot be shown; the message says why, in German."""


def fold(text: str) -> tuple[str, list[int]]:
    """The key of `text` (letters and digits, NFKC, case-folded) and, per key character, the index
    in `text` it came from."""
    key, index = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                key.append(c)
                index.append(i)
    return "".join(key), index


def locate(path: Path, page: int, quote: str) -> dict[int, tuple[Box, ...]] | None:
    """Where `quote` stands, as boxes per page: on `page`, or starting there and running onto the
    next page, or (asked for the next page) starting on the page before. None when the quote is
    not found, too short to tell, or short and found more than once."""
    stamp = _stamp(path)
    return _locate(str(path), stamp, page, quote)


def located(path: Path, page: int, quote: str, width: int = WIDTH) -> dict:
    """`locate` as JSON: found or not, and per page its size and boxes in PDF points (origin
    bottom left), and the same boxes in pixels of its image `width` pixels wide (origin top left)."""
    found = locate(path, page, quote) if quote else None
    stamp = _stamp(path)
    pages = []
    for n, boxes in sorted((found or {}).items()):
        text = _text(str(path), stamp, n)
        pages.append({"page": n, "width": round(text.width, 2), "height": round(text.height, 2),
                      "boxes": [b.json() for b in boxes], "image": _image_boxes(path, n, boxes, width)})
    return {"page": page, "found": found is not None, "pages": pages}


def page_count(path: Path) -> int:
    """How many pages the PDF has."""
    return _page_count(str(path), _stamp(path))


def render_png(path: Path, page: int, quote: str = "", width: int = WIDTH) -> bytes:
    """The page as a PNG `width` pixels wide, the quote's boxes on it highlighted (none if the quote
    is not located). Cached per file version, page, quote and width."""
    key = (str(path), _stamp(path), page, quote, width)
    with _png_lock:
        if key in _pngs:
            _pngs.move_to_end(key)
            return _pngs[key]
    found = locate(path, page, quote) if quote else None
    png = _render(path, page, (found or {}).get(page, ()), width)
    with _png_lock:
        _pngs[key] = png
        while len(_pngs) > 48:
            _pngs.popitem(last=False)
    return png


_pngs: OrderedDict[tuple, bytes] = OrderedDict()
_png_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size  # a replaced file is a new cache entry


@lru_cache(maxsize=64)
def _page_count(path: str, stamp: tuple[int, int]) -> int:
    with PDFIUM, _open(path) as pdf:
        return len(pdf)


@lru_cache(maxsize=256)
def _locate(path: str, stamp: tuple[int, int], page: int, quote: str):
    found = _find(path, stamp, page, quote)
    return found if found and all(found.values()) else None  # rotated text: no box at all


def _find(path: str, stamp: tuple[int, int], page: int, quote: str):
    q, _ = fold(quote)
    if len(q) < MIN_KEY:
        return None
    ends = _ends(quote)
    here = _text(path, stamp, page)
    if here is None:
        return None
    hits = _all(here.key, q)
    if len(hits) == 1 or len(hits) > 1 and len(q) >= REPEATED:  # a sentence printed twice: both
        boxes = (box for at in hits for box in _boxes(here, at, at + len(q), ends))
        return {page: tuple(dict.fromkeys(boxes))}  # text drawn twice (a shadow) marked once
    onto_next = (here, _text(path, stamp, page + 1), page)
    from_before = (_text(path, stamp, page - 1), here, page - 1)
    for one, two, n in (onto_next, from_before):
        if one is not None and two is not None and (split := _split(one, two, q)) is not None:
            (a, b), (c, d) = split
            return {n: _boxes(one, a, b, (ends[0], 0)), n + 1: _boxes(two, c, d, (0, ends[1]))}
    if (cells := _row_cells(quote)) is not None and (boxes := _row(here, cells)):
        return {page: boxes}
    return None


_ROW = re.compile(r"(?P<label>[^–]+?) – (?P<cells>.+?)\.?")


def _row_cells(quote: str) -> list[str] | None:
    """A table row as our reader writes it, "Berlin – Punkte 2025: 49, Veränderung: +4.", as
    the texts of its cells on the page: ["Berlin", "49", "+4"] (the column names stand in the
    header row, not in this one); the header row "Land | Punkte 2025 | Veränderung" as its
    names. None for anything else."""
    quote = quote.strip()
    if " | " in quote:  # the header row: "Titel: Kategorie | Punkte 2025 | Veränderung"
        return [part.rsplit(": ", 1)[-1] for part in quote.rstrip(".").split(" | ")]
    m = _ROW.fullmatch(quote)
    if m is None:
        return None
    return [m["label"], *(part.rsplit(": ", 1)[-1] for part in m["cells"].split(", "))]


def _row(text: PageText, cells: list[str]) -> tuple[Box, ...] | None:
    """Boxes over the cells of one table row: the label found as a whole cell, and each value
    found as a whole cell on the label's line, the values left to right (the label's column may
    stand anywhere). None unless exactly one line of the page holds them all (a value that is
    only a sign, "=", is not marked)."""
    shown = [(fold(c)[0], c) for c in cells]
    keys = [k for k, _ in shown if k]
    rims = [_rims(c) for k, c in shown if k]  # "+4": the sign is marked too
    if len(keys) < 2 or len(keys[0]) < MIN_KEY:
        return None
    rows = []
    for at in _cells(text, keys[0]):
        if (band := _band(text, at, at + len(keys[0]))) is None:
            continue  # rotated: no boxes
        y0, y1 = band
        spans, left = [(at, at + len(keys[0]))], float("-inf")
        for key in keys[1:]:
            nxt = next((c for c in _cells(text, key) if y0 <= _middle(text, c) <= y1
                        and _x(text, c) > left and (c, c + len(key)) not in spans), None)
            if nxt is None:
                break
            spans.append((nxt, nxt + len(key)))
            left = _x(text, nxt)
        else:
            rows.append(spans)
    if len(rows) != 1:
        return None
    return tuple(box for (a, b), rim in zip(rows[0], rims, strict=True)
                 for box in _boxes(text, a, b, rim))


def _rims(cell: str) -> tuple[int, int]:
    """How many signs and marks open and close a cell ("+4", "(2)", "3 %")."""
    cell = cell.strip()
    lead = len(cell) - len(cell.lstrip("+-–−±(„\"'"))
    tail = len(cell) - len(cell.rstrip(")%‰“\"'*"))
    return lead, tail


def _cells(text: PageText, key: str) -> Iterator[int]:
    """Where `key` stands in the page's key as a whole cell or word: no letter or digit right
    before or after it on the page ("1" in "1", not in "2021")."""
    at = text.key.find(key)
    while at >= 0:
        i, j = text.index[at], text.index[at + len(key) - 1]
        if (i == 0 or not text.chars[i - 1].isalnum()) and \
                (j + 1 >= len(text.chars) or not text.chars[j + 1].isalnum()):
            yield at
        at = text.key.find(key, at + 1)


def _band(text: PageText, start: int, end: int) -> tuple[float, float] | None:
    boxes = [b for b in (text.boxes[text.index[k]] for k in range(start, end)) if b is not None]
    return (min(b[1] for b in boxes), max(b[3] for b in boxes)) if boxes else None


def _middle(text: PageText, at: int) -> float:
    b = text.boxes[text.index[at]]
    return (b[1] + b[3]) / 2 if b is not None else float("nan")


def _x(text: PageText, at: int) -> float:
    b = text.boxes[text.index[at]]
    return b[0] if b is not None else float("nan")


def _ends(quote: str) -> tuple[int, int]:
    """How many marks (quotation marks, a full stop) open and close the quote: folding drops
    them, the box takes them back in."""
    quote = quote.strip()
    lead = len(quote) - len(quote.lstrip("„“\"'‚‘»«(["))
    tail = len(quote) - len(quote.rstrip(".!?:;,“”\"'‘’»«)]…"))
    return lead, tail


def _all(key: str, q: str) -> list[int]:
    hits, at = [], key.find(q)
    while at >= 0:
        hits.append(at)
        at = key.find(q, at + len(q))
    return hits


def _unique(key: str, q: str) -> int | None:
    at = key.find(q)
    return at if at >= 0 and key.find(q, at + 1) < 0 else None


def _split(first: PageText, second: PageText, q: str):
    """Key spans of `q` begun at the end of `first` and continued at the start of `second`: the
    first part must end the page's body (only a short footer, e.g. a page number, may follow) and
    the rest must begin the next (after a short running header); each part is unique."""
    tail, head = 40, 80  # key characters allowed after the part (a footer) / before the rest
    for k in range(len(q) - MIN_KEY, MIN_KEY - 1, -1):
        a = _unique(first.key, q[:k])
        if a is None or len(first.key) - (a + k) > tail:
            continue
        c = _unique(second.key, q[k:])
        if c is not None and c <= head:
            return (a, a + k), (c, c + len(q) - k)
    return None


def _boxes(text: PageText, start: int, end: int, ends: tuple[int, int]) -> tuple[Box, ...]:
    """One box per visual line of the key span [start, end): the union of the loose boxes of its
    characters, of the spaces and hyphens between them and of the quote's own opening and closing
    marks, a little padded."""
    i, j = text.index[start], text.index[end - 1]
    for _ in range(ends[0]):
        if i > 0 and _mark(text.chars[i - 1]):
            i -= 1
    for _ in range(ends[1]):
        if j + 1 < len(text.chars) and _mark(text.chars[j + 1]):
            j += 1
    lines: list[list[float]] = []
    for k in range(i, j + 1):
        if (b := text.boxes[k]) is None:
            continue
        x0, y0, x1, y1 = b
        cur = lines[-1] if lines else None
        if cur is not None and cur[1] <= (y0 + y1) / 2 <= cur[3] and x0 >= cur[0] - 2:
            cur[:] = min(cur[0], x0), min(cur[1], y0), max(cur[2], x1), max(cur[3], y1)
        else:
            lines.append([x0, y0, x1, y1])
    return tuple(Box(x0 - PAD, y0 - PAD, x1 + PAD, y1 + PAD) for x0, y0, x1, y1 in lines)


def _mark(ch: str) -> bool:
    return not ch.isalnum() and not ch.isspace()


@lru_cache(maxsize=32)
def _text(path: str, stamp: tuple[int, int], page: int) -> PageText | None:
    import pypdfium2.raw as raw

    with PDFIUM, _open(path) as pdf:
        if not 1 <= page <= len(pdf):
            return None
        p = pdf[page - 1]
        tp = p.get_textpage()
        try:
            rect = raw.FS_RECTF()
            chars, boxes = [], []
            for i in range(tp.count_chars()):
                code = raw.FPDFText_GetUnicode(tp, i)
                ch = chr(code) if code else " "
                chars.append(ch)
                angle = raw.FPDFText_GetCharAngle(tp, i)  # radians; a slanted box would cover more
                upright = angle < TILT or angle > 2 * math.pi - TILT
                has_box = not ch.isspace() and upright and \
                    raw.FPDFText_GetLooseCharBox(tp, i, ctypes.byref(rect))
                boxes.append((rect.left, rect.bottom, rect.right, rect.top) if has_box else None)
            width, height = p.get_size()
        finally:
            tp.close()
            p.close()
    text = "".join(chars)
    key, index = fold(text)
    return PageText(text, key, tuple(index), tuple(boxes), width, height)


def _render(path: Path, page: int, boxes: tuple[Box, ...], width: int) -> bytes:
    from PIL import Image, ImageChops, ImageDraw

    text = _text(str(path), _stamp(path), page)
    with PDFIUM, _open(str(path)) as pdf:
        if not 1 <= page <= len(pdf):
            raise PageError(f"Seite {page} gibt es in „{path.name}“ nicht ({len(pdf)} Seiten).")
        p = pdf[page - 1]
        try:
            scale, crop = _frame(p, text, width)
            img = p.render(scale=scale, crop=crop, may_draw_forms=True).to_pil().convert("RGB")
            rects = _pixels(p, boxes, scale, crop)
        finally:
            p.close()
    for r in rects:
        region = img.crop(r)
        img.paste(ImageChops.multiply(region, Image.new("RGB", region.size, COLOR)), r[:2])
        ImageDraw.Draw(img).rectangle(r, outline=EDGE, width=2)
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _image_boxes(path: Path, page: int, boxes: tuple[Box, ...], width: int) -> dict:
    """The size of the page's image and the boxes on it, in pixels (x0, y0, x1, y1 from the top
    left), as `render_png` draws them."""
    text = _text(str(path), _stamp(path), page)
    with PDFIUM, _open(str(path)) as pdf:
        p = pdf[page - 1]
        try:
            scale, crop = _frame(p, text, width)
            w, h = p.get_size()
            size = [math.ceil(w * scale) - math.ceil(crop[0] * scale) - math.ceil(crop[2] * scale),
                    math.ceil(h * scale)]
            return {"size": size, "boxes": [list(r) for r in _pixels(p, boxes, scale, crop)]}
        finally:
            p.close()


def _frame(page, text: PageText | None, width: int) -> tuple[float, tuple[float, float, float, float]]:
    """Scale and crop (left, bottom, right, top in points) of a page's image: the side margins
    beyond the text are cut (at most 40 % of the width), so the text reads larger in the panel."""
    w, h = page.get_size()
    left = right = 0.0
    xs = [b for b in text.boxes if b is not None] if text is not None else []
    if xs and page.get_rotation() == 0:
        lo = _device(page, (0, 0), (math.ceil(w), math.ceil(h)), min(b[0] for b in xs), h / 2)[0]
        hi = _device(page, (0, 0), (math.ceil(w), math.ceil(h)), max(b[2] for b in xs), h / 2)[0]
        left, right = max(0.0, lo - MARGIN), max(0.0, w - hi - MARGIN)
        if left + right > 0.4 * w:
            shrink = 0.4 * w / (left + right)
            left, right = left * shrink, right * shrink
    return width / (w - left - right), (left, 0.0, right, 0.0)


def _pixels(page, boxes: tuple[Box, ...], scale: float, crop: tuple[float, ...]) -> list[tuple[int, ...]]:
    """Boxes in page points to pixels of the image `render` makes (rotation and crop included)."""
    w, h = page.get_size()
    start = (-math.ceil(crop[0] * scale), -math.ceil(crop[3] * scale))
    size = (math.ceil(w * scale), math.ceil(h * scale))
    rects = []
    for b in boxes:
        (ax, ay), (bx, by) = (_device(page, start, size, x, y) for x, y in ((b.x0, b.y0), (b.x1, b.y1)))
        rects.append((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
    return rects


def _device(page, start: tuple[int, int], size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    import pypdfium2.raw as raw

    dx, dy = ctypes.c_int(), ctypes.c_int()
    raw.FPDF_PageToDevice(page, start[0], start[1], size[0], size[1], 0, x, y,
                          ctypes.byref(dx), ctypes.byref(dy))
    return dx.value, dy.value


@contextmanager
def _open(path: str):
    """pdfium's document, closed afterwards; a file pdfium cannot open is a PageError."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        raise PageError(f"„{Path(path).name}“ lässt sich nicht als PDF öffnen ({e}).") from e
    try:
        yield pdf
    finally:
        pdf.close()
