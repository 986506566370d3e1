"""Stage 1, documents in: find files, read them, normalize, and split them into blocks.

`load_corpus(paths, manifest)` returns SourceDocs plus per-file errors; a bad file never
stops the others. PDF reading lives in assistant.read.pdf.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.read.markup import html_blocks, markdown_blocks, text_blocks
from assistant.text.normalize import decode_text, looks_binary
from assistant.types import SLIDE, Block, SourceDoc

SUFFIXES = (".pdf", ".md", ".txt", ".html", ".htm", ".docx", ".xlsx", ".pptx", ".odt", ".ods")


@dataclass(frozen=True)
class ManifestEntry:
    """A document the corpus should have: its file name, title and where it comes from."""

    file: str
    title: str
    url: str = ""
    publisher: str = ""


@dataclass
class LoadResult:
    """LoadedFile documents, plus what went wrong per file (German messages)."""

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
class LoadedFile:
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


def load_document(f: Path, entry: ManifestEntry | None = None) -> LoadedFile:
    """Read, normalize and block one file; raise DocumentError (naming the file) if impossible."""
    from assistant.read.pdf import PdfError, read_pdf  # local: only PDFs need pypdfium2

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
            from assistant.read.office import read_office  # local: python-docx/openpyxl

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
    return LoadedFile(replace(doc, page_labels=labels), pages, tuple(warnings))


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
