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
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant import ocr
from assistant.text import is_bullet, normalize
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


@dataclass
class _Page:
    number: int
    lines: list[str]
    ocr: bool = False


_DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlcIVXLC]+\s*$")
_HEADING_NUMBER = re.compile(r"^((?:\d+\.)*\d+|[A-Z](?:\.\d+)*|[IVX]+)\.?\s+(?=\S)")
_CODE = re.compile(r"^(\$|#|>|sudo\s|apt(-get)?\s|/\S+|\w+=)")
_ROMAN = re.compile(r"^[ivxlcdm]+$", re.I)


def read_pdf(path: Path, use_ocr: bool = True) -> PdfText:
    """Read a PDF into clean page-tagged blocks; raise PdfError for empty, broken or locked files."""
    import pypdfium2 as pdfium

    _check_header(path)
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
        pages, warnings = [], []
        for i in range(n):
            text = pdf[i].get_textpage().get_text_range()
            page = _Page(i + 1, _lines(text))
            if not page.lines:
                page = _ocr_page(pdf[i], i + 1, path, use_ocr, warnings)
            pages.append(page)
    finally:
        pdf.close()
    pages = [p for p in pages if not _is_toc(p)]
    _drop_running_lines(pages)
    blocks = _blocks(pages, outline)
    return PdfText(blocks, title, n, labels, warnings, sum(p.ocr for p in pages))


def _check_header(path: Path) -> None:
    if path.stat().st_size == 0:
        raise PdfError("leere Datei (0 Byte), übersprungen.")
    with path.open("rb") as fh:
        if b"%PDF" not in fh.read(1024):
            raise PdfError("keine PDF-Datei (falscher Inhalt trotz .pdf-Endung), übersprungen.")


def _lines(text: str) -> list[str]:
    # pdfium joins a word hyphenated at a line end and marks the break with U+FFFE: drop it
    # inside a word ("Haupt|server"), keep a real hyphen before a capital or a digit
    # ("MAC-Adresse") and before "und"/"oder" ("Host- und DNS-Namen").
    text = re.sub(r"[\ufffe\u0002]\s*(?=(und|oder|bzw|sowie)\b)", "- ", text)
    text = re.sub(r"[\ufffe\u0002]\s*(?=[A-ZÄÖÜ0-9])", "-", text)
    text = re.sub(r"[\ufffe\u0002\u00ad]\s*", "", text)
    text = unicodedata.normalize("NFKC", text)  # folds ﬀ ﬁ ﬂ; keeps umlauts composed
    return [ln for ln in (normalize(x) for x in text.splitlines()) if ln]


def _ocr_page(page, number: int, path: Path, use_ocr: bool, warnings: list[str]) -> _Page:
    if use_ocr and ocr.available():
        text = ocr.recognize(page.render(scale=300 / 72).to_pil())
        lines = _lines(text)
        if lines:
            return _Page(number, lines, ocr=True)
        warnings.append(f"{path.name}, S. {number}: auch per Texterkennung (OCR) kein Text gefunden.")
    elif use_ocr:
        warnings.append(f"{path.name}, S. {number}: keine Textebene und keine Texterkennung (OCR) "
                        "installiert (apt-get install tesseract-ocr tesseract-ocr-deu); übersprungen.")
    return _Page(number, [])


def _outline(pdf) -> dict[int, list[str]]:
    """Outline titles by physical page, normalized for matching heading lines."""
    found: dict[int, list[str]] = {}
    for item in pdf.get_toc():
        dest = item.get_dest()
        index = dest.get_index() if dest is not None else None
        if index is not None:
            found.setdefault(index + 1, []).append(_key(item.get_title()))
    return found


def _key(s: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", s)).strip().lower()


def _is_toc(page: _Page) -> bool:
    """A table-of-contents page: many lines end in dot leaders and a page number."""
    leaders = sum(bool(_DOT_LEADER.search(ln)) for ln in page.lines)
    return leaders >= 5 and leaders >= 0.3 * len(page.lines)


def _signature(line: str) -> str:
    words = [("#" if w.isdigit() or _ROMAN.match(w) else w) for w in line.lower().split()]
    return " ".join(words)


def _drop_running_lines(pages: list[_Page], edge: int = 2) -> None:
    """Remove header/footer lines: top or bottom lines whose shape recurs on many pages."""
    if len(pages) < 4:
        return

    def edges(p: _Page) -> tuple[int, int]:
        k = max(1, min(edge, len(p.lines) // 3))  # a short page has fewer header candidates
        return k, max(k, len(p.lines) - k)

    counts: Counter[str] = Counter()
    for p in pages:
        top, bottom = edges(p)
        counts.update({_signature(ln) for ln in p.lines[:top] + p.lines[bottom:]})
    threshold = max(3, int(0.3 * len(pages)))
    running = {s for s, c in counts.items() if c >= threshold}
    for p in pages:
        top, bottom = edges(p)
        p.lines = [ln for i, ln in enumerate(p.lines)
                   if top <= i < bottom or _signature(ln) not in running]


def _is_heading(line: str, titles: list[str], have_outline: bool) -> bool:
    if len(line) > 120 or line.endswith((".", ",", ";", ":")):
        return False
    bare = _HEADING_NUMBER.sub("", line)
    if have_outline:
        return _key(bare) in titles or _key(line) in titles
    return bool(_HEADING_NUMBER.match(line)) and bare[:1].isupper() and len(bare.split()) <= 12


def _blocks(pages: list[_Page], outline: dict[int, list[str]]) -> list[Block]:
    """Join lines into paragraphs across pages; headings become their own blocks."""
    widths = sorted(len(ln) for p in pages for ln in p.lines) or [80]
    full = widths[int(0.8 * (len(widths) - 1))]  # a typical full line of body text
    para = _Paragraph()
    blocks: list[Block] = []
    for p in pages:
        titles = outline.get(p.number, []) + outline.get(p.number - 1, [])
        if para.ends_sentence() or para.ocr != p.ocr:
            para.flush_into(blocks)  # a paragraph runs on to the next page only mid-sentence
        for ln in p.lines:
            if _is_heading(ln, titles, bool(outline)):
                para.flush_into(blocks)
                blocks.append(Block(ln, 0, p.number, is_heading=True, ocr=p.ocr))
                continue
            if is_bullet(ln) or _CODE.match(ln):
                para.flush_into(blocks)
            para.add(ln, p.number, p.ocr)
            if len(ln) < 0.7 * full or _CODE.match(ln):
                para.flush_into(blocks)  # the paragraph, list item, table row or command ends here
    para.flush_into(blocks)
    return blocks


class _Paragraph:
    """Lines being joined into one block, with the offsets where a new page begins."""

    def __init__(self) -> None:
        self.text, self.page, self.ocr, self.starts = "", 0, False, []

    def ends_sentence(self) -> bool:
        return self.text.rstrip().endswith((".", "!", "?", ":"))

    def add(self, line: str, page: int, is_ocr: bool) -> None:
        if not self.text:
            self.text, self.page, self.ocr = line, page, is_ocr
            return
        self.text = _glue(self.text, line)
        last_page = self.starts[-1][1] if self.starts else self.page
        if page != last_page:
            self.starts.append((len(self.text) - len(line), page))

    def flush_into(self, blocks: list[Block]) -> None:
        if self.text.strip():
            blocks.append(Block(self.text.strip(), 0, self.page, page_starts=tuple(self.starts),
                                ocr=self.ocr))
        self.text, self.starts = "", []


def _glue(text: str, line: str) -> str:
    """Append a line: rejoin "Verwal-" + "tung", keep "E-Government-" + "Lösungen" and "Ein- und"."""
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
        first = line.split(" ", 1)[0]
        if line[:1].islower() and first not in ("und", "oder", "bzw.", "sowie", "bis"):
            return text[:-1] + line  # a word hyphenated at the line end
        if line[:1].isupper() or line[:1].isdigit():
            return text + line  # a compound: the hyphen stays, no space
    return text + " " + line
