"""Stage 1, documents in: find files, read them, normalize, and split them into blocks.

`load_corpus(paths, manifest)` returns SourceDocs plus per-file errors; a bad file never
stops the others. PDF reading lives in assistant.pdf.
"""

from __future__ import annotations

import html.parser
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.text import decode_text, is_bullet, looks_binary, normalize
from assistant.types import SLIDE, Block, SourceDoc

SUFFIXES = (".pdf", ".md", ".txt", ".html", ".htm", ".docx", ".xlsx", ".pptx", ".odt", ".ods")
_HEADING_MAX = 100


@dataclass(frozen=True)
class ManifestEntry:
    """A document the corpus should have: its file name, title and where it comes from."""

    file: str
    title: str
    url: str = ""
    publisher: str = ""


@dataclass
class LoadResult:
    """Loaded documents, plus what went wrong per file (German messages)."""

    docs: list[SourceDoc] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: int = 0


def read_manifest(path: Path) -> dict[str, ManifestEntry]:
    """Manifest entries by file name; an absent manifest is an empty one."""
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = [ManifestEntry(**d) for d in data.get("documents", [])]
    return {e.file: e for e in entries}


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Every supported file among `paths` (files, or folders searched recursively), sorted."""
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found.update(f for f in p.rglob("*") if f.is_file() and _supported(f))
        elif p.is_file():
            found.add(p)
    return sorted(found)


def _supported(f: Path) -> bool:
    return f.suffix.lower() in SUFFIXES and not f.name.startswith(".") and f.name != "README.md"


def missing_entries(manifest: dict[str, ManifestEntry], files: Iterable[Path]) -> list[ManifestEntry]:
    """Manifest entries whose file is not among `files`."""
    names = {f.name for f in files}
    return [e for name, e in manifest.items() if name not in names]


def doc_id_for(path: Path) -> str:
    """A stable document id from the file name: lower-case, safe characters only."""
    return re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-") or "dokument"


class DocumentError(Exception):
    """A file that cannot be loaded; the message says why, in German."""


@dataclass(frozen=True)
class Loaded:
    """One loaded file: the document, its page count (0 if not paged) and warnings."""

    doc: SourceDoc
    pages: int = 0
    warnings: tuple[str, ...] = ()


def load_corpus(paths: Iterable[Path], manifest: dict[str, ManifestEntry]) -> LoadResult:
    """Load every supported file under `paths`; unreadable files become error messages."""
    result = LoadResult()
    for f in find_files(paths):
        try:
            loaded = load_document(f, manifest.get(f.name))
        except DocumentError as e:
            result.errors.append(str(e))
            continue
        result.docs.append(loaded.doc)
        result.pages += loaded.pages
        result.warnings += loaded.warnings
    return result


def load_document(f: Path, entry: ManifestEntry | None = None) -> Loaded:
    """Read, normalize and block one file; raise DocumentError (naming the file) if impossible."""
    from assistant.pdf import PdfError, read_pdf  # local: only PDFs need pypdfium2

    suffix = f.suffix.lower()
    pages, warnings, labels = 0, [], {}
    try:
        str(f).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are no UTF-8 in the name: nothing could store it
        shown = os.fsencode(f).decode("utf-8", errors="replace")
        raise DocumentError(f"{shown}: Dateiname ist kein gültiges UTF-8, bitte umbenennen.") from None
    try:
        if suffix == ".pdf":
            pdf = read_pdf(f)
            blocks, default_title = pdf.blocks, pdf.title
            pages, warnings, labels = pdf.pages, list(pdf.warnings), pdf.labels
        elif suffix in (".html", ".htm"):
            default_title, blocks = html_blocks(_read_text(f, warnings))
        elif suffix == ".md":
            default_title, blocks = "", markdown_blocks(_read_text(f, warnings))
        elif suffix == ".txt":
            default_title, blocks = "", text_blocks(_read_text(f, warnings))
        elif suffix in (".docx", ".xlsx", ".pptx", ".odt", ".ods"):
            from assistant.office import read_office  # local: python-docx/openpyxl

            default_title, blocks, pages, office_warnings = read_office(f)
            warnings += office_warnings
            if suffix == ".pptx":  # a slide is cited as "Folie 3", not as a page
                labels = {n: f"{SLIDE}{n}" for n in range(1, pages + 1)}
        else:
            raise DocumentError(f"{f}: Dateityp {suffix or '(ohne Endung)'} wird nicht unterstützt.")
    except (PdfError, OSError, UnicodeError, ValueError) as e:
        raise DocumentError(f"{f}: {e}") from e
    if not blocks:
        raise DocumentError(f"{f}: kein Text gefunden, Datei übersprungen.")
    title = (entry.title if entry else "") or default_title or _first_heading(blocks) or f.stem
    source = entry.url if entry and entry.url else str(f)
    meta = {"file": str(f.resolve())}
    if entry and entry.publisher:
        meta["publisher"] = entry.publisher
    doc = _assemble(doc_id_for(f), title, source, blocks, meta)
    return Loaded(replace(doc, page_labels=labels), pages, tuple(warnings))


def _read_text(f: Path, warnings: list[str]) -> str:
    text, encoding = decode_text(f.read_bytes())
    if looks_binary(text):
        raise ValueError("keine Textdatei (Binärdaten), übersprungen.")
    if encoding == "Windows-1252":
        warnings.append(f"{f}: nicht UTF-8, als Windows-1252 gelesen; bitte Umlaute prüfen.")
    return text


def _first_heading(blocks: list[Block]) -> str:
    return next((b.text for b in blocks if b.is_heading), "")


SECTION_SEPARATOR = " › "


def _assemble(doc_id: str, title: str, source: str, blocks: list[Block], meta: dict) -> SourceDoc:
    """Join blocks with newlines into the document text; each block records its offset and its
    heading path ("6 Durchführung › 6.1 Kick-off"), built from the headings' levels."""
    placed, parts, pos = [], [], 0
    path: list[tuple[int, str]] = []
    for b in blocks:
        if b.is_heading:
            level = b.level or 1
            path = [(lv, t) for lv, t in path if lv < level] + [(level, b.text)]
        section = SECTION_SEPARATOR.join(t for _, t in path)
        role = "heading" if b.is_heading else b.role
        placed.append(replace(b, start=pos, section=section, role=role))
        parts.append(b.text)
        pos += len(b.text) + 1
    return SourceDoc(doc_id, title, source, "\n".join(parts), tuple(placed), meta)


# --- plain text ----------------------------------------------------------------------------

_TERMINAL = re.compile(r"[.!?:;)\"“”]$")


def text_blocks(raw: str) -> list[Block]:
    """Blocks of a plain-text file (e.g. a saved web page).

    Blank lines separate paragraphs; inside a paragraph a line that does not end a sentence is
    joined to the next when it ends with a comma or a lower-case word (wrapped prose). A line
    alone in its paragraph, short and without final punctuation, is a heading, unless it was
    doubled (image alt text followed by the same caption), which marks a caption. A lone
    breadcrumb line ending in a colon ("Sie sind hier:") is dropped.
    """
    blocks: list[Block] = []
    for para in re.split(r"\n\s*\n", normalize(raw)):
        raw_lines = [ln for ln in para.split("\n") if ln.strip()]
        lines = _dedupe(raw_lines)
        caption = len(lines) < len(raw_lines)
        units = _join_wrapped(lines)
        if len(units) == 1 and len(units[0]) < 40 and units[0].endswith(":"):
            continue
        heading = len(units) == 1 and not caption and _looks_like_heading(units[0])
        blocks += [Block(_strip_bullet(u), 0, is_heading=heading, level=1 if heading else 0,
                         role="item" if is_bullet(u) else "caption" if caption else "paragraph")
                   for u in units]
    return lists_with_lead_in(blocks)


def _strip_bullet(line: str) -> str:
    """Drop a bullet glyph; numbered items keep their number."""
    return re.sub(r"^[•▪◦‣∙·*–—-]\s+", "", line)


def _dedupe(lines: list[str]) -> list[str]:
    return [ln for i, ln in enumerate(lines) if i == 0 or ln != lines[i - 1]]


def _join_wrapped(lines: list[str]) -> list[str]:
    units: list[str] = []
    for ln in lines:
        prev = units[-1] if units else ""
        wrapped = prev and not _TERMINAL.search(prev) and not is_bullet(ln)
        last_word = prev.rsplit(" ", 1)[-1] if prev else ""
        if wrapped and (prev.endswith((",", "-")) or last_word[:1].islower()):
            units[-1] = prev + ("" if prev.endswith("-") and ln[:1].islower() else " ") + ln
        else:
            units.append(ln)
    return units


def _looks_like_heading(line: str) -> bool:
    return len(line) <= _HEADING_MAX and not re.search(r"[.,;:!?]$", line) and not is_bullet(line)


# --- markdown ----------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")


def markdown_blocks(raw: str) -> list[Block]:
    """Blocks of a Markdown file: headings with their level, paragraphs (wrapped lines joined),
    lists with their lead-in, and tables as rows that name their header."""
    blocks: list[Block] = []
    for para in re.split(r"\n\s*\n", normalize(raw)):
        rows = para.split("\n")
        if len(rows) >= 2 and all(r.strip().startswith("|") for r in rows) and _MD_RULE.match(rows[1]):
            blocks.append(Block("\n".join(_md_table(rows)), 0, role="table"))
            continue
        current: list[str] = []
        for ln in rows:
            m = _MD_HEADING.match(ln)
            if m or is_bullet(ln):
                if current:
                    blocks.append(Block(_strip_md(" ".join(current)), 0))
                current = []
            if m:
                level = len(ln) - len(ln.lstrip("#"))
                blocks.append(Block(_strip_md(m.group(1)), 0, is_heading=True, level=level))
            elif is_bullet(ln):
                item = _strip_md(_strip_bullet(ln))
                blocks.append(Block(item if item[:1].isdigit() else f"• {item}", 0, role="item"))
            elif blocks and blocks[-1].role == "item" and not current and ln.startswith(" "):
                blocks[-1] = replace(blocks[-1], text=f"{blocks[-1].text} {_strip_md(ln)}")
            else:
                current.append(ln)
        if current:
            blocks.append(Block(_strip_md(" ".join(current)), 0))
    return lists_with_lead_in([b for b in blocks if b.text])


_MD_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _md_table(rows: list[str]) -> list[str]:
    """A Markdown table as its header line and one line per row naming each value's column."""
    def cells(r: str) -> list[str]:
        return [_strip_md(c.strip()) for c in r.strip().strip("|").split("|")]

    return table_lines(cells(rows[0]), [cells(r) for r in rows[2:]])


def table_lines(header: list[str], rows: list[list[str]]) -> list[str]:
    """A table as its header line and one line per row that names each value's column
    ("Bund – Rechtsrahmen: 0, Daten: 12."): a row read alone still says what its values are."""
    out = [" | ".join(header)]
    for values in rows:
        if not any(values):
            continue
        label, rest = values[0], list(zip(header[1:], values[1:], strict=False))
        parts = ", ".join(f"{h}: {v}" if h else v for h, v in rest if v)
        out.append(f"{label} – {parts}." if parts else f"{label}.")
    return out


def lists_with_lead_in(blocks: list[Block]) -> list[Block]:
    """Consecutive list items become one list block, with the paragraph before them when it
    announces them (ends in a colon): the lead-in never travels without its items."""
    out: list[Block] = []
    for b in blocks:
        if b.role != "item":
            out.append(b)
            continue
        prev = out[-1] if out else None
        if prev is not None and (prev.role == "list" or prev.role == "paragraph"
                                 and prev.text.endswith(":")):
            out[-1] = replace(prev, text=f"{prev.text}\n{b.text}", role="list")
        else:
            out.append(replace(b, role="list"))
    return out


def _strip_md(s: str) -> str:
    s = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", s)  # links and images keep their text
    return re.sub(r"(\*\*|__|`)", "", s).strip()


# --- HTML --------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "li", "br", "tr", "td", "th", "section", "article", "blockquote",
               "pre", "dd", "dt", "figcaption", "caption", "table", "ul", "ol"}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "nav", "footer", "head"}


class _HtmlText(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._buf: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading = 0
        self._item = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK_TAGS or tag in _HEADING_TAGS:
            self._flush()
            self._heading = int(tag[1]) if tag in _HEADING_TAGS else 0
            self._item = tag == "li"

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK_TAGS or tag in _HEADING_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        text = normalize(" ".join(self._buf)).replace("\n", " ")
        if text:
            role = "item" if self._item else "paragraph"
            self.blocks.append(Block(f"• {text}" if self._item else text, 0,
                                     is_heading=bool(self._heading), level=self._heading, role=role))
        self._buf, self._heading, self._item = [], 0, False


def html_blocks(raw: str) -> tuple[str, list[Block]]:
    """The <title> and the text blocks of an HTML page; scripts and styles are dropped."""
    parser = _HtmlText()
    parser.feed(raw)
    parser.close()
    parser._flush()
    return normalize(parser.title), lists_with_lead_in(parser.blocks)
