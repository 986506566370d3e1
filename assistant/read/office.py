"""Reading Office documents into the same blocks as PDFs and Markdown: Word (.docx), Excel
(.xlsx), PowerPoint (.pptx) and LibreOffice (.odt, .ods), with python-docx, openpyxl,
python-pptx and odfpy (no LibreOffice process).

Word: the body in reading order; "Überschrift n" / "Heading n" / "Titel" styles become headings
with their level (so the heading path works as for PDFs), list paragraphs become items that
keep their lead-in, tables become rows that name their header. What python-docx reads as text
is what the document shows: deleted tracked changes (w:delText) and comments (their own part)
are not in it, inserted tracked changes are. Embedded images are skipped with a note.
Excel: each sheet becomes a page headed by its name, its first non-empty row the header of every
row below it; formulas are read as the values Excel last computed.

Content is sniffed as for PDFs: an encrypted file (an OLE container, not a ZIP), a ZIP of
something else, or a truncated file each get a German message naming the file.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from assistant.read.markup import lists_with_lead_in, table_lines
from assistant.text.normalize import normalize
from assistant.types import SHEET, SLIDE, Block

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and the old .doc/.xls formats
_PARTS = {".docx": "word/document.xml", ".xlsx": "xl/workbook.xml",
          ".pptx": "ppt/presentation.xml", ".odt": "content.xml", ".ods": "content.xml"}
_HEADING = re.compile(r"^(?:heading|überschrift)\s*(\d)$", re.I)
_TITLE = re.compile(r"^(?:title|titel)$", re.I)
_LIST_STYLE = re.compile(r"^(?:list|liste|aufzählung)", re.I)


class OfficeError(ValueError):
    """An Office file that cannot be read (German message)."""


def sniff(source: Path | bytes, suffix: str | None = None) -> None:
    """Raise OfficeError unless `source` (a file, or an upload's bytes with its `suffix`) is a
    readable ZIP package of its kind."""
    suffix = (suffix or Path(source).suffix).lower()
    package = io.BytesIO(source) if isinstance(source, bytes) else source
    if isinstance(source, bytes):
        head = source[:8]
    else:
        with open(source, "rb") as f:
            head = f.read(8)
    if head == OLE_MAGIC:
        raise OfficeError("ist verschlüsselt (kennwortgeschützt) oder im alten Office-Format "
                          "(.doc/.xls); bitte ohne Kennwort als .docx/.xlsx speichern.")
    if not zipfile.is_zipfile(package):
        raise OfficeError("ist beschädigt oder unvollständig (kein gültiges Office-Paket).")
    try:
        with zipfile.ZipFile(package) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise OfficeError(f"ist beschädigt oder unvollständig ({e}).") from e
    if _PARTS[suffix] not in names:
        raise OfficeError(f"ist kein {suffix[1:].upper()}-Dokument, sondern ein ZIP-Archiv mit "
                          "anderem Inhalt.")
    if bad is not None:
        raise OfficeError(f"ist beschädigt (Teil {bad} unlesbar).")


def read_office(path: Path) -> tuple[str, list[Block], int, list[str]]:
    """(title, blocks, pages, warnings) of a .docx, .xlsx, .pptx, .odt or .ods file; OfficeError
    when unreadable."""
    sniff(path)
    readers = {".docx": read_docx, ".xlsx": read_xlsx, ".pptx": read_pptx, ".odt": read_odf,
               ".ods": read_odf}
    try:
        return readers[path.suffix.lower()](path)
    except OfficeError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged package raises anything: name the file
        raise OfficeError(f"ließ sich nicht lesen ({type(e).__name__}: {e}).") from e


def table_block(rows: list[list[str]], **where) -> Block:
    """A table block: the first row is the header every later row names (markup.table_lines)."""
    return Block("\n".join(table_lines(rows[0], rows[1:])), 0, role="table", **where)


def read_docx(path: Path) -> tuple[str, list[Block], int, list[str]]:
    """(title, blocks, 0 pages, warnings) of a Word document (it has no fixed pages)."""
    import docx
    from docx.table import Table

    document = docx.Document(str(path))
    blocks: list[Block] = []
    images = 0
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            rows = _table_rows(part)
            if rows:
                blocks.append(table_block(rows))
            continue
        images += len(part._p.xpath(".//w:drawing | .//w:pict"))
        text = normalize(part.text).strip()
        if not text:
            continue
        style = part.style.name if part.style is not None else ""
        if m := _HEADING.match(style):
            blocks.append(Block(text, 0, is_heading=True, level=int(m.group(1))))
        elif _TITLE.match(style):
            blocks.append(Block(text, 0, is_heading=True, level=1))
        elif part._p.pPr is not None and part._p.pPr.numPr is not None or _LIST_STYLE.match(style):
            blocks.append(Block(f"• {text}", 0, role="item"))
        else:
            blocks.append(Block(text, 0))
    warnings = [f"{path}: {images} eingebettete(s) Bild(er) übersprungen (nur Text wird gelesen)."
                ] if images else []
    return (document.core_properties.title or "").strip(), lists_with_lead_in(blocks), 0, warnings


def _table_rows(table) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:  # a merged cell is repeated for every column it spans: once
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(normalize(cell.text).strip().replace("\n", " "))
        rows.append(cells)
    return [r for r in rows if any(r)]


def read_xlsx(path: Path) -> tuple[str, list[Block], int, list[str]]:
    """(title, blocks, pages, warnings) of an Excel workbook: one page per non-empty sheet."""
    import openpyxl

    book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    blocks: list[Block] = []
    page = 0
    try:
        for sheet in book.worksheets:
            rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            rows = [r for r in rows if any(r)]
            if not rows:
                continue
            page += 1
            width = max(len(r) for r in rows)
            rows = [r + [""] * (width - len(r)) for r in rows]
            blocks += sheet_blocks(sheet.title, rows, page)
    finally:
        book.close()
    return (book.properties.title or "").strip(), blocks, page, []


def sheet_blocks(name: str, rows: list[list[str]], page: int) -> list[Block]:
    """A spreadsheet's sheet as a page: its name a heading, its rows naming their header, both
    labelled "Blatt „name“" (what citations show instead of a page number)."""
    label = f"{SHEET}„{name}“"
    return [Block(name, 0, page=page, is_heading=True, level=1, label=label),
            table_block(rows, page=page, label=label)]


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return normalize(str(v)).strip().replace("\n", " ")


def read_pptx(path: Path) -> tuple[str, list[Block], int, list[str]]:
    """(title, blocks, slides, warnings) of a presentation: each slide a page labelled "Folie n"
    (the label citations show), its title a heading, indented paragraphs list items under the
    paragraph before them, tables rows naming their header; pictures are skipped with a note."""
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    deck = Presentation(str(path))
    blocks: list[Block] = []
    pictures = 0
    for n, slide in enumerate(deck.slides, 1):
        label = f"{SLIDE}{n}"
        title = slide.shapes.title  # a new proxy object on every access: compare by shape_id
        title_id = title.shape_id if title is not None else None
        if title is not None and normalize(title.text_frame.text).strip():
            blocks.append(Block(normalize(title.text_frame.text).strip(), 0, page=n,
                                is_heading=True, level=1, label=label))
        for shape in slide.shapes:
            if shape.shape_type == MSO_SHAPE_TYPE.PICTURE:
                pictures += 1
            elif shape.has_table:
                rows = [[normalize(c.text).strip().replace("\n", " ") for c in r.cells]
                        for r in shape.table.rows]
                rows = [r for r in rows if any(r)]
                if rows:
                    blocks.append(table_block(rows, page=n, label=label))
            elif shape.has_text_frame and shape.shape_id != title_id:
                for para in shape.text_frame.paragraphs:
                    text = normalize("".join(r.text for r in para.runs)).strip()
                    if text:
                        role = "item" if para.level > 0 else "paragraph"
                        blocks.append(Block(f"• {text}" if role == "item" else text, 0, page=n,
                                            role=role, label=label))
    warnings = [f"{path}: {pictures} Bild(er) übersprungen (nur Text wird gelesen)."
                ] if pictures else []
    return ((deck.core_properties.title or "").strip(), lists_with_lead_in(blocks),
            len(deck.slides), warnings)


# --- OpenDocument (LibreOffice): odfpy's element tree, read by hand -------------------------

_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_SKIPPED = {(_OFFICE_NS, "annotation"), (_TEXT_NS, "tracked-changes"), (_TEXT_NS, "note"),
            (_OFFICE_NS, "annotation-end")}
_MAX_REPEAT = 50  # an empty cell or row "repeated 1024 times" fills a sheet to its edge


def _odf_text(node) -> str:
    """The visible text of an ODF element: spaces, tabs and breaks as written, without
    comments, footnotes and the record of tracked changes."""
    out = []
    for child in node.childNodes:
        if child.nodeType == child.TEXT_NODE:
            out.append(str(child.data))
            continue
        if child.qname in _SKIPPED:
            continue
        tag = child.qname[1]
        if tag == "s":
            out.append(" " * int(child.getAttrNS(_TEXT_NS, "c") or 1))
        elif tag in ("tab", "line-break"):
            out.append(" ")
        else:
            out.append(_odf_text(child))
    return "".join(out)


def _odf_rows(table) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.getElementsByType(_odf_class("table", "TableRow")):
        cells: list[str] = []
        for cell in row.childNodes:
            if cell.qname not in ((_TABLE_NS, "table-cell"), (_TABLE_NS, "covered-table-cell")):
                continue
            text = normalize(" ".join(_odf_text(p) for p in cell.childNodes
                                      if p.qname and p.qname[1] == "p")).strip()
            repeat = int(cell.getAttrNS(_TABLE_NS, "number-columns-repeated") or 1)
            cells += [text] * (min(repeat, _MAX_REPEAT) if text else min(repeat, 1))
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            rows.append(cells)
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


def _odf_class(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"odf.{module}"), name)


def read_odf(path: Path) -> tuple[str, list[Block], int, list[str]]:
    """(title, blocks, pages, warnings) of a LibreOffice text (.odt) or spreadsheet (.ods):
    headings with their outline level, list items with their lead-in, tables and sheets as rows
    naming their header (a sheet is a page); comments and tracked changes stay out."""
    from odf.opendocument import load

    document = load(str(path))
    title = ""
    for t in document.meta.getElementsByType(_odf_class("dc", "Title")):
        title = normalize(_odf_text(t)).strip()
    if path.suffix.lower() == ".ods":
        blocks, page = [], 0
        for sheet in document.spreadsheet.getElementsByType(_odf_class("table", "Table")):
            rows = _odf_rows(sheet)
            if not rows:
                continue
            page += 1
            blocks += sheet_blocks(sheet.getAttrNS(_TABLE_NS, "name") or f"Tabelle {page}", rows,
                                   page)
        return title, blocks, page, []
    blocks = []
    images = 0

    def walk(node, in_list: bool = False) -> None:
        nonlocal images
        for child in node.childNodes:
            if not child.qname or child.qname in _SKIPPED:
                continue
            tag = child.qname[1]
            if tag == "h":
                text = normalize(_odf_text(child)).strip()
                level = int(child.getAttrNS(_TEXT_NS, "outline-level") or 1)
                if text:
                    blocks.append(Block(text, 0, is_heading=True, level=level))
            elif tag == "p":
                images += len(child.getElementsByType(_odf_class("draw", "Image")))
                text = normalize(_odf_text(child)).strip()
                if text:
                    blocks.append(Block(f"• {text}", 0, role="item") if in_list
                                  else Block(text, 0))
            elif tag in ("list", "list-item"):
                walk(child, in_list=True)
            elif child.qname == (_TABLE_NS, "table"):
                rows = _odf_rows(child)
                if rows:
                    blocks.append(table_block(rows))
            elif tag in ("section", "soft-page-break"):
                walk(child, in_list)

    walk(document.text)
    warnings = [f"{path}: {images} eingebettete(s) Bild(er) übersprungen (nur Text wird gelesen)."
                ] if images else []
    return title, lists_with_lead_in(blocks), 0, warnings
