"""Stage 1 for PDFs: page-tagged blocks of clean text from real-world PDFs.

Reader: pypdfium2 (chosen by bench/pdf_readers.py: fastest, page labels and outline, soft hyphens
marked). Cleaning, in order: running headers/footers (lines repeated on many pages) and table-of-
contents pages are dropped; ligatures folded (NFKC) and soft hyphens removed; lines joined into
paragraphs, rejoining words hyphenated at a line end but keeping compounds ("E-Government-
Lösungen"); short lines (list items, table rows, commands) stay lines. Headings come from the
PDF outline, else from numbered heading lines. Pages without a text layer go through Tesseract
OCR (German) when it is installed, else they are skipped with a warning each.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.read import ocr
from assistant.read.layout import Line, PageLayout, extract_tables, page_layouts, table_lines
from assistant.text.normalize import normalize
from assistant.text.sentences import DOT_LEADER, is_bullet
from assistant.types import Block


class PdfError(Exception):
    """A PDF that cannot be read; the message says why, in German."""


@dataclass
class PdfText:
    """What a PDF gave: blocks (each with its page), title, page count, labels and warnings."""

    blocks: list[Block]
    title: str
    pages: int
    labels: dict[int, str] = field(default_factory=dict)  # physical page -> printed label
    warnings: list[str] = field(default_factory=list)
    ocr_pages: int = 0


_HEADING_NUMBER = re.compile(r"^((?:\d+\.)*\d+|[A-Z](?:\.\d+)*|[IVX]+)\.?\s+(?=\S)")
_CODE = re.compile(r"^(\$|#|>|sudo\s|apt(-get)?\s|/\S+|\w+=)")
_ROMAN = re.compile(r"^[ivxlcdm]+$", re.I)


# pdfium is not thread-safe, not even across documents: every pdfium call of the process (this
# reader, and assistant.serve.highlight's page images) holds this lock.
PDFIUM = threading.RLock()


def read_pdf(path: Path, use_ocr: bool = True) -> PdfText:
    """Read a PDF into clean page-tagged blocks with roles; raise PdfError for empty, broken or
    locked files."""
    _check_header(path)
    with PDFIUM:
        n, title, labels, outline, pages, warnings, ocr_pages = _read_pages(path, use_ocr)
    pages = [p for p in pages if not _is_toc(p)]
    for p in pages:
        extract_tables(p)
    _drop_furniture(pages)
    blocks = _blocks(pages, outline)
    return PdfText(blocks, title, n, labels | _spread_labels(pages), warnings, ocr_pages)


def _read_pages(path: Path, use_ocr: bool):
    """Everything read through pdfium: page count, title, page labels, outline, page layouts."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower() or "security" in msg.lower():
            raise PdfError("verschlüsselt (Passwort nötig), übersprungen.") from e
        raise PdfError(f"beschädigt oder unvollständig ({msg}), übersprungen.") from e
    try:
        n = len(pdf)
        title = normalize(pdf.get_metadata_dict().get("Title") or "").replace("\n", " ")
        labels = {i + 1: pdf.get_page_label(i) for i in range(n)}
        labels = {p: lab for p, lab in labels.items() if lab and lab != str(p)}
        outline = _outline(pdf)
        pages: list[PageLayout] = []
        warnings: list[str] = []
        ocr_pages = 0
        for i in range(n):
            got = [lay for lay in page_layouts(pdf[i], i + 1, labels.get(i + 1)) if lay.lines]
            if not got:
                got = _ocr_page(pdf[i], i + 1, path, use_ocr, warnings)
                ocr_pages += bool(got)
            pages += got
    finally:
        pdf.close()
    return n, title, labels, outline, pages, warnings, ocr_pages


def _check_header(path: Path) -> None:
    if path.stat().st_size == 0:
        raise PdfError("leere Datei (0 Byte), übersprungen.")
    with path.open("rb") as fh:
        if b"%PDF" not in fh.read(1024):
            raise PdfError("keine PDF-Datei (falscher Inhalt trotz .pdf-Endung), übersprungen.")


_HYPHEN_MARK = "\ufffe"
_CAPTION = re.compile(r"^(Abb\.|Abbildung|Tab\.|Tabelle|Grafik|Diagramm|Foto|Bild|Quelle|Figure|"
                      r"Fig\.|Table|Source)\s*\d*[.:]?\s", re.I)
_FOOTNOTE = re.compile(r"^([¹²³⁴⁵⁶⁷⁸⁹⁰]+|\d{1,3})\s*(?=[A-ZÄÖÜa-zäöü\"„(])")
_PATHLIKE = re.compile(r"(/|\\|://|^~|^www\.|\w\.\w+/)")


def _clean(text: str) -> str:
    """One line's text: ligatures folded (NFKC), soft hyphens dropped; pdfium's mark of a word
    hyphenated at the line end (U+FFFE) is kept at the end for _glue to decide."""
    text = text.replace("\u0002", _HYPHEN_MARK)
    marked = text.rstrip().endswith(_HYPHEN_MARK)
    text = normalize(re.sub(r"[\ufffe\u00ad]", "", unicodedata.normalize("NFKC", text)))
    return text + _HYPHEN_MARK if marked and text else text


def _ocr_page(page, number: int, path: Path, use_ocr: bool, warnings: list[str]) -> list[PageLayout]:
    if use_ocr and ocr.available():
        text = ocr.recognize(page.render(scale=300 / 72).to_pil())
        rows = [ln for ln in (normalize(x) for x in text.splitlines()) if ln]
        if rows:  # no geometry: lines top to bottom at a nominal size (0 = the body size)
            lines = [Line(r, 0.0, 0.0, 1000.0 - 10 * i, 0.0, False) for i, r in enumerate(rows)]
            return [PageLayout(number, lines, 0.0, 0.0, ocr=True)]
        warnings.append(f"{path.name}, S. {number}: auch per Texterkennung (OCR) kein Text gefunden.")
    elif use_ocr:
        warnings.append(f"{path.name}, S. {number}: keine Textebene und keine Texterkennung (OCR) "
                        "installiert (apt-get install tesseract-ocr tesseract-ocr-deu); übersprungen.")
    return []


def _outline(pdf) -> dict[int, dict[str, int]]:
    """Outline titles (normalized for matching heading lines) with their level, by page."""
    found: dict[int, dict[str, int]] = {}
    for item in pdf.get_toc():
        dest = item.get_dest()
        index = dest.get_index() if dest is not None else None
        if index is not None:
            found.setdefault(index + 1, {})[_key(item.get_title())] = item.level + 1
    return found


def _key(s: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", s)).strip().lower()


def _is_toc(page: PageLayout) -> bool:
    """A table-of-contents page: many lines end in dot leaders and a page number."""
    leaders = sum(bool(DOT_LEADER.search(ln.text)) for ln in page.lines)
    return leaders >= 5 and leaders >= 0.3 * len(page.lines)


def _signature(line: str) -> str:
    words = [("#" if w.isdigit() or _ROMAN.match(w) else w) for w in line.lower().split()]
    return " ".join(words)


def _margin_lines(p: PageLayout) -> list[Line]:
    """Lines that may be running headers or footers: the two top and two bottom lines where
    they stand in the outer band of the page, or (without geometry) the first and last two."""
    if not p.height:
        k = max(1, min(2, len(p.lines) // 3))
        return p.lines[:k] + p.lines[-k:]
    by_y = sorted((ln for ln in p.lines if ln.table < 0), key=lambda ln: -ln.y)
    return [ln for ln in by_y[:2] if ln.y > 0.88 * p.height] \
        + [ln for ln in by_y[-2:] if ln.y < 0.10 * p.height]


def _drop_furniture(pages: list[PageLayout]) -> None:
    """Remove page furniture: margin lines that recur (same shape) on three pages or more, bare
    page numbers in the margins, and text far smaller than the body (rotated tabs, crop marks)."""
    counts: Counter[str] = Counter()
    for p in pages:
        counts.update({s for ln in _margin_lines(p) for s in _signatures(ln.text)})
    limit = 3 if len(pages) >= 4 else 10**9
    body = _body_size(pages)

    def furniture(ln: Line, p: PageLayout) -> bool:
        full, prefix = _signatures(ln.text)
        alone = all(abs(o.y - ln.y) > 1.75 * max(ln.size, 1) for o in p.lines if o is not ln)
        return counts[full] >= limit or counts[prefix] >= 2 * limit and alone and bool(ln.size) \
            or bool(re.fullmatch(r"[\divxlc]{1,6}", ln.text.strip(), re.I))

    for p in pages:
        margin = {id(ln) for ln in _margin_lines(p)}
        p.lines = [ln for ln in p.lines if ln.table >= 0 or not (
            (id(ln) in margin and furniture(ln, p)) or (ln.size and ln.size < 0.45 * body))]


def _signatures(line: str) -> tuple[str, str]:
    """A line's shape (numbers as #), whole and its first three words: running headers that
    name the current section ("Phase 2 Erkunden – 1. ...") share the beginning."""
    full = _signature(line)
    return full, "^" + " ".join(full.split()[:3])


def _body_size(pages: list[PageLayout]) -> float:
    sizes: Counter[float] = Counter()
    for p in pages:
        for ln in p.lines:
            if ln.size:
                sizes[round(ln.size, 1)] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


@dataclass
class _Style:
    """What the document's type sizes mean: the body size and the heading levels by size."""

    body: float
    levels: dict[float, int]
    outline: dict[int, dict[str, int]]

    @classmethod
    def of(cls, pages: list[PageLayout], outline: dict[int, dict[str, int]]) -> _Style:
        body = _body_size(pages)
        big = sorted({round(ln.size) for p in pages for ln in p.lines
                      if ln.size >= 1.15 * body and ln.words <= 15}, reverse=True)
        return cls(body, {s: i + 1 for i, s in enumerate(big[:4])}, outline)

    def heading_level(self, ln: Line, page: int, nxt: Line | None) -> int:
        """The heading level of a line (1 = top), or 0 for text that is no heading."""
        text = _HEADING_NUMBER.sub("", ln.text)
        if len(ln.text) > 120 or ln.text.endswith((".", ",", ";")) or not text[:1].isalnum():
            return 0
        titles = self.outline.get(page, {}) | self.outline.get(page - 1, {})
        if titles:
            level = titles.get(_key(text)) or titles.get(_key(ln.text))
            if level:
                return level
        if ln.text.endswith(":") or ln.words > 15:
            return 0
        if ln.size and ln.size >= 1.15 * self.body:
            return self.levels.get(round(ln.size), len(self.levels) + 1)
        if ln.bold and ln.words <= 10 and ln.size >= 0.75 * self.body and nxt is not None \
                and not nxt.bold and nxt.table < 0:
            return len(self.levels) + 1  # a bold run-in title over plain text ("Vorgehen")
        if not self.outline and _HEADING_NUMBER.match(ln.text) and text[:1].isupper() \
                and len(text.split()) <= 12 and not ln.bold and ln.size <= 1.05 * self.body \
                and ln.size >= 0.95 * self.body:
            return min(ln.text.split()[0].rstrip(".").count(".") + 1, 4)
        return 0


def _blocks(pages: list[PageLayout], outline: dict[int, dict[str, int]]) -> list[Block]:
    """Lines into blocks with roles: headings, paragraphs, list items, tables, footnotes and
    captions; a paragraph runs on to the next page only mid-sentence."""
    style = _Style.of(pages, outline)
    para = _Paragraph(style)
    blocks: list[Block] = []
    # the physical pages that hold two printed ones: a paragraph never runs from one half into
    # the other (each half keeps its label); across other pages a new label is only a page number
    spreads = {n for n, k in Counter(p.number for p in pages).items() if k > 1}
    for p in pages:
        if para.ends_sentence() or para.ocr != p.ocr or para.label != p.label and (
                p.number in spreads or para.page in spreads):
            para.flush_into(blocks)
        column = _column_edges(p.lines)
        for i, ln in enumerate(p.lines):
            if ln.table >= 0:
                para.flush_into(blocks)
                text = "\n".join(table_lines(p.tables[ln.table], p.titles[ln.table]))
                blocks.append(Block(text, 0, p.number, role="table", label=p.label, ocr=p.ocr))
                continue
            level = style.heading_level(ln, p.number, p.lines[i + 1] if i + 1 < len(p.lines) else None)
            if level:
                last = blocks[-1] if blocks and not para.lines else None
                prev = para.prev
                if last and last.is_heading and last.level == level and last.page == p.number \
                        and prev is not None and prev.size == ln.size and prev.half == ln.half \
                        and 0 < prev.y - ln.y < 1.6 * max(ln.size, 1):
                    blocks[-1] = replace(last, text=f"{last.text} {ln.text}")  # a two-line heading
                else:
                    para.flush_into(blocks)
                    blocks.append(Block(ln.text, 0, p.number, is_heading=True, level=level,
                                        role="heading", label=p.label, ocr=p.ocr))
                para.prev = ln
                continue
            if para.breaks_before(ln, column.get(id(ln))):
                para.flush_into(blocks)
            para.add(ln, p)
    para.flush_into(blocks)
    return _lists(blocks)


def _column_edges(lines: list[Line]) -> dict[int, float]:
    """For each line, the right edge of its column: the widest line starting near its left edge."""
    out = {}
    for ln in lines:
        near = [o.x1 for o in lines if abs(o.x0 - ln.x0) < 2.5 * max(ln.size, 1) and o.table < 0]
        out[id(ln)] = max(near, default=ln.x1)
    return out


class _Paragraph:
    """Lines being joined into one block, with the offsets where a new page begins."""

    def __init__(self, style: _Style) -> None:
        self.style = style
        self.text, self.page, self.ocr, self.starts = "", 0, False, []
        self.lines: list[Line] = []
        self.prev: Line | None = None
        self.label: str | None = None
        self.height = 0.0

    def ends_sentence(self) -> bool:
        return self.text.rstrip().endswith((".", "!", "?", ":"))

    def breaks_before(self, ln: Line, column_right: float | None) -> bool:
        """Whether `ln` starts a new block rather than continuing this one."""
        prev = self.prev if self.lines else None
        if prev is None:
            return False
        if is_bullet(ln.text) or _CODE.match(ln.text) or _CAPTION.match(ln.text):
            return True
        if _CODE.match(prev.text):
            return True
        if not prev.size or not ln.size:  # no geometry (OCR): the short-line rule alone
            return len(prev.text) < 50 or self.ends_sentence() and len(prev.text) < 70
        if abs(ln.size - prev.size) > 0.15 * max(ln.size, prev.size) or ln.bold != prev.bold \
                and ln.words <= 10 and not self.lines[0].bold:
            return True
        dy = prev.y - ln.y
        first = self.lines[0]
        if is_bullet(first.text) and ln.x0 > first.x0 + 0.5 * ln.size and 0 < dy < 1.75 * ln.size:
            return False  # the hanging indent of a list item's next line
        if dy < -0.5 * ln.size or abs(ln.x0 - prev.x0) > 4 * ln.size and dy < 0.5 * ln.size:
            # another column or box: a sentence cut there goes on in lower case
            return self.ends_sentence() or not ln.text[:1].islower()
        if dy > 1.75 * max(ln.size, prev.size):
            return True
        short = column_right is not None and prev.x1 < column_right - 0.15 * (column_right - prev.x0)
        return short and self.ends_sentence()

    def add(self, ln: Line, p: PageLayout) -> None:
        text = _clean(ln.text)
        if not text:
            return
        if not self.lines:
            self.text, self.page, self.ocr, self.label, self.starts = text, p.number, p.ocr, p.label, []
        else:
            self.text = _glue(self.text, text)
            last_page = self.starts[-1][1] if self.starts else self.page
            if p.number != last_page:
                self.starts.append((len(self.text) - len(text.rstrip(_HYPHEN_MARK)), p.number))
        self.lines.append(ln)
        self.prev = ln
        self.height = p.height

    def role(self) -> str:
        first = self.lines[0]
        body = self.style.body
        if _CAPTION.match(self.text):
            return "caption"
        if first.size and first.size <= 0.85 * body and _FOOTNOTE.match(self.text) \
                and (not self.height or first.y < 0.4 * self.height):
            return "footnote"
        return "item" if is_bullet(self.text) else "paragraph"

    def flush_into(self, blocks: list[Block]) -> None:
        text = self.text.replace(_HYPHEN_MARK, "").strip()
        if text:
            role = self.role()
            blocks.append(Block(text, 0, self.page, page_starts=tuple(self.starts), ocr=self.ocr,
                                role=role, label=self.label))
        self.text, self.starts, self.lines = "", [], []


# Words that start running text, not the rest of a path broken at a line end.
_PROSE_WORDS = frozenset(
    "der die das den dem des ein eine einer einen und oder sowie von vom zu zum zur in im an am "
    "auf aus bei mit nach für als wie ab bis über unter vor ist sind wird werden kann können "
    "muss liegt liegen enthält the and or of to is are".split())


def _starts_prose(last: str, line: str) -> bool:
    """Whether a line starts running text after the path `last`: a function word, or after a
    file path (not a URL, whose segments are often capitalized, nor "Angebote/Maßnahmen") a
    capitalized word that is not all capitals ("Die Datei ..." but not "README")."""
    first = line.split(" ", 1)[0].rstrip(",.;:")
    if first.lower() in _PROSE_WORDS:
        return True
    file_path = last.lstrip("(<»„\"'").startswith(("/", "~/", "./"))  # not "Angebote/", a URL
    return file_path and first[:1].isupper() and not first.isupper() and not re.search(r"[/.]", first)


def _glue(text: str, line: str) -> str:
    """Append a line: rejoin "Verwal-" + "tung", keep "E-Government-" + "Lösungen", "Ein- und",
    and never split or hyphenate a path, URL or command ("/skole/" + "backup/")."""
    last = text.rsplit(" ", 1)[-1]
    prose = _starts_prose(last, line)  # "/var/cache/apt/archives/" + "von den ...": it ended
    if re.search(r"[/\\]-?" + _HYPHEN_MARK + "?$", last) and _PATHLIKE.search(last) and not prose:
        return re.sub(r"-?" + _HYPHEN_MARK + "?$", "", text) + line  # "/skole/-" + "backup/"
    if _PATHLIKE.search(last.rstrip("-" + _HYPHEN_MARK)) and not last.endswith(_HYPHEN_MARK):
        return text + line if last.endswith(("/", "\\", ".", "_", "-")) and not prose \
            else text + " " + line
    if text.endswith(_HYPHEN_MARK):  # pdfium's mark: the typesetter hyphenated a word here
        body = text[:-1]
        if re.match(r"(und|oder|bzw|sowie)\b", line):
            return body + "- " + line
        if _PATHLIKE.search(last):
            return body + "-" + line  # typesetters do not hyphenate paths: the hyphen is real
        return body + ("-" if line[:1].isupper() or line[:1].isdigit() else "") + line
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
        first = line.split(" ", 1)[0]
        if line[:1].islower() and first not in ("und", "oder", "bzw.", "sowie", "bis"):
            return text[:-1] + line  # a word hyphenated at the line end
        if line[:1].isupper() or line[:1].isdigit():
            return text + line  # a compound: the hyphen stays, no space
    return text + " " + line


def _lists(blocks: list[Block]) -> list[Block]:
    """A list is one block: the lead-in sentence (a paragraph ending in a colon) with the items
    that follow it, one per line. Items are marked ones ("•", "1.", "01") or, after a lead-in,
    short paragraphs up to the next heading, table or lead-in."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        lead = b.role == "paragraph" and b.text.endswith(":")
        j = i + 1 if lead else i  # an item run starts at i itself
        marked = j < len(blocks) and blocks[j].role == "item"
        while j < len(blocks) and j - i < 15 and (
                blocks[j].role == "item"
                or lead and not marked and blocks[j].role == "paragraph"
                and len(blocks[j].text) <= 400 and not blocks[j].text.endswith(":")):
            j += 1
        members = blocks[i:j]
        if len(members) >= 2 or members and members[0].role == "item":
            out.append(_join(members))
            i = j
        else:
            out.append(b if b.role != "item" else replace(b, role="paragraph"))
            i += 1
    return out


def _join(members: list[Block]) -> Block:
    text, starts, page = "", [], members[0].page
    for m in members:
        item = m.text if m.role != "paragraph" or m is members[0] else f"• {m.text}"
        if text:
            text += "\n"
        if m.page != (starts[-1][1] if starts else page):
            starts.append((len(text), m.page))
        starts += [(len(text) + off, pg) for off, pg in m.page_starts]
        text += re.sub(r"^[▪◦‣∙·*–—-]\s+", "• ", item)
    return Block(text, 0, page, page_starts=tuple(starts), role="list", label=members[0].label,
                 ocr=any(m.ocr for m in members))


def _spread_labels(pages: list[PageLayout]) -> dict[int, str]:
    """A PDF page holding two printed pages is labelled with both ("76–77")."""
    halves: dict[int, list[str]] = {}
    for p in pages:
        if p.label and p.width < p.height and p.width > 0:
            halves.setdefault(p.number, []).append(p.label)
    return {n: "–".join(labs) for n, labs in halves.items() if len(labs) == 2}
