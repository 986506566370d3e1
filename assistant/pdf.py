"""Stage 1 for PDFs: per-page text with physical page numbers, as blocks.

Reading uses pypdfium2 (Apache-2.0/BSD, fast, C engine). Bad files raise PdfError with a
German message naming the problem; the caller keeps going with the other files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assistant.corpus import _join_wrapped, _looks_like_heading
from assistant.text import normalize
from assistant.types import Block


class PdfError(Exception):
    """A PDF that cannot be read; the message says why, in German."""


@dataclass
class PdfText:
    """What a PDF gave: its blocks (each with its page), title, page count and warnings."""

    blocks: list[Block]
    title: str
    pages: int
    warnings: list[str] = field(default_factory=list)


def read_pdf(path: Path) -> PdfText:
    """Read a PDF into page-tagged blocks; raise PdfError for empty, broken or locked files."""
    import pypdfium2 as pdfium

    if path.stat().st_size == 0:
        raise PdfError("leere Datei (0 Byte), übersprungen.")
    with path.open("rb") as fh:
        if not fh.read(1024).lstrip().startswith(b"%PDF"):
            raise PdfError("keine PDF-Datei (falscher Inhalt trotz .pdf-Endung), übersprungen.")
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise PdfError("verschlüsselt (Passwort nötig), übersprungen.") from e
        raise PdfError(f"beschädigt oder unvollständig ({msg}), übersprungen.") from e
    try:
        title = normalize(pdf.get_metadata_dict().get("Title") or "").replace("\n", " ")
        blocks: list[Block] = []
        warnings: list[str] = []
        for i in range(len(pdf)):
            page = pdf[i]
            text = page.get_textpage().get_text_range()
            lines = [ln for ln in normalize(text).split("\n") if ln.strip()]
            if not lines:
                warnings.append(f"{path.name}, S. {i + 1}: keine Textebene gefunden.")
            for unit in _join_wrapped(lines):
                blocks.append(Block(unit, 0, page=i + 1, is_heading=_looks_like_heading(unit)
                                    and len(unit) < 60 and unit[:1].isupper()))
        return PdfText(blocks, title, len(pdf), warnings)
    finally:
        pdf.close()
