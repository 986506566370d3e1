"""Stage 2, SourceDoc -> Chunks: sentence-aware German chunking inside sections.

Blocks are packed into chunks of at most `max_chars`; a block longer than that is cut at
sentence boundaries, never inside a sentence. A heading starts a new chunk. Chunk ids hash
(document id, position, text), so re-chunking unchanged text yields the same ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from assistant.read.corpus import SECTION_SEPARATOR
from assistant.text.sentences import is_bullet, sentence_spans
from assistant.types import Block, Chunk, SourceDoc

CHUNKER_VERSION = "c7"  # c7: the subsections of an index or bibliography are references too
# Sections whose text is a list of references, not statements: kept out of answers.
# "Anmerkungen" is not one: in the Debian Paketmanagement book all 11 such sections are remarks
# ("B.8 Alle Dateien eines installierten Pakets anzeigen › Anmerkungen"), and "Wie liste ich alle
# Dateien eines Pakets auf?" was answered from elsewhere; endnotes are read as footnotes.
_REFERENCE_SECTIONS = re.compile(
    r"^(\d+(\.\d+)*\s+)?(literatur\w*|quellen(verzeichnis)?|bibliographie|bibliografie|index|register|"
    r"stichwortverzeichnis|abbildungsverzeichnis|tabellenverzeichnis|inhalt(sverzeichnis)?|"
    r"abkürzungsverzeichnis|glossar|endnoten|references|bibliography)$", re.I)

_CONTENTS = re.compile(r"^(\d+(\.\d+)*\s+)?inhalt(sverzeichnis)?$", re.I)


@dataclass(frozen=True)
class _Piece:
    """A span of the document text that chunking never cuts, and what it depends on."""

    start: int
    end: int
    block: Block
    lead: str = ""  # its list's lead-in or its table's header, when that stands before it


def chunk(doc: SourceDoc, max_chars: int = 600) -> list[Chunk]:
    """Split one document into retrievable chunks that follow its structure: a heading starts a
    chunk; a table, a footnote and each printed page are chunked on their own; a list keeps its
    lead-in, and a chunk that continues a list or a table carries the lead-in or header."""
    chunks: list[Chunk] = []
    group: list[_Piece] = []
    for piece in _pieces(doc, max_chars):
        if group and _starts_chunk(group, piece, max_chars, doc.text):
            chunks.append(_make(doc, group, len(chunks)))
            group = []
        group.append(piece)
    if group:
        chunks.append(_make(doc, group, len(chunks)))
    return [c for c in chunks if c.text.strip()]


def _starts_chunk(group: list[_Piece], piece: _Piece, max_chars: int, text: str) -> bool:
    last, b = group[-1], piece.block
    if b.is_heading:  # a new section, unless the chunk so far is a scrap ("Zeitrahmen 30 Minuten")
        return not last.block.is_heading and last.end - group[0].start >= max_chars // 3
    if b.label != last.block.label:
        return True  # the other printed page of a spread
    only_headings = all(p.block.is_heading or p.block.role == "caption" for p in group)
    if b is not last.block and "footnote" in (b.role, last.block.role):
        return True
    if b is not last.block and "table" in (b.role, last.block.role) and not only_headings:
        return True
    if piece.end - group[0].start <= max_chars:
        # a short list that would not fit whole starts a chunk of its own, so that no item is
        # cut off from its lead-in and its neighbours
        block_end = b.start + len(b.text)
        return (b.role == "list" and piece.start == b.start and block_end - b.start <= max_chars
                and block_end - group[0].start > max_chars and not only_headings)
    # keep "folgende Kommunen:" together with what it announces
    return not (text[last.end - 1] == ":" and piece.end - group[0].start <= 1.5 * max_chars)


def _pieces(doc: SourceDoc, max_chars: int) -> list[_Piece]:
    """Blocks as pieces: a list by its lead-in and items, a table by its header and rows, other
    blocks whole or, when over-long, in runs of whole sentences."""
    out: list[_Piece] = []
    for block in doc.blocks:
        if block.role in ("list", "table") and "\n" in block.text:
            out += _line_pieces(block)
        else:
            out += _sentence_pieces(block, max_chars)
    return out


def _line_pieces(block: Block) -> list[_Piece]:
    lines, pos = [], block.start
    for ln in block.text.split("\n"):
        lines.append((pos, pos + len(ln)))
        pos += len(ln) + 1
    first = block.text.split("\n", 1)[0]
    has_lead = block.role == "table" or not is_bullet(first)
    lead = first if has_lead else ""
    return [_Piece(a, b, block, lead if has_lead and i else "") for i, (a, b) in enumerate(lines)
            if b > a]


def _sentence_pieces(block: Block, max_chars: int) -> list[_Piece]:
    end = block.start + len(block.text)
    if end - block.start <= max_chars:
        return [_Piece(block.start, end, block)]
    out, run_start, prev_end = [], None, block.start
    for sa, sb in sentence_spans(block.text):
        sa, sb = block.start + sa, block.start + sb
        if run_start is None:
            run_start = sa
        elif sb - run_start > max_chars:
            out.append(_Piece(run_start, prev_end, block))
            run_start = sa
        prev_end = sb
    if run_start is not None:
        out.append(_Piece(run_start, prev_end, block))
    return out


def _make(doc: SourceDoc, group: list[_Piece], position: int) -> Chunk:
    start, end = group[0].start, group[-1].end
    text = doc.text[start:end]
    blocks = list(dict.fromkeys(p.block for p in group))
    section = next((b.section for b in blocks if b.section), "")
    page_starts = _page_starts(group, start)
    pages = [p for _, p in page_starts]
    own = {b.page: b.label for b in blocks if b.label and b.page is not None}
    labels = tuple((p, own.get(p) or doc.page_labels[p]) for p in sorted(set(pages))
                   if p in own or p in doc.page_labels)
    lead = group[0].lead if group[0].lead and group[0].lead not in text else ""
    digest = hashlib.sha256(f"{doc.id}\x00{position}\x00{text}".encode()).hexdigest()[:24]
    return Chunk(
        id=f"{doc.id}:{digest}",
        doc_id=doc.id,
        title=doc.title,
        source=doc.source,
        text=text,
        start=start,
        end=end,
        page=pages[0] if pages else None,
        page_end=pages[-1] if pages else None,
        section=section,
        page_starts=tuple(page_starts),
        page_labels=labels,
        ocr=any(b.ocr for b in blocks),
        role=_role(blocks, section),
        lead=lead,
    )


def _role(blocks: list[Block], section: str) -> str:
    """The chunk's role: reference (a bibliography or index section), table, list, footnote,
    caption or heading when all its blocks have it, else paragraph."""
    # An index's letter groups ("Index › L") and a bibliography's entries misread as headings
    # are below the section that names them. A table of contents is not such a parent: an
    # outline may put the whole document below "Inhalt" (the Open Data Ranking does).
    path = [p.strip() for p in section.split(SECTION_SEPARATOR)] if section else []
    if any(_REFERENCE_SECTIONS.match(p) and (i == len(path) - 1 or not _CONTENTS.match(p))
           for i, p in enumerate(path)):
        return "reference"
    roles = {b.role for b in blocks if not b.is_heading}
    for role in ("table", "list"):
        if role in roles:
            return role
    if len(roles) == 1:
        return roles.pop()
    return "heading" if not roles else "paragraph"


def _page_starts(group: list[_Piece], start: int) -> list[tuple[int, int]]:
    """(offset in the chunk, page) wherever the page changes, from the blocks' own page breaks."""
    out: list[tuple[int, int]] = []
    for a, b, block in ((p.start, p.end, p.block) for p in group):
        if block.page is None:
            continue
        marks = [(a, block.page_at(a - block.start))]
        marks += [(block.start + off, p) for off, p in block.page_starts
                  if a < block.start + off < b]
        for pos, page in marks:
            if page is not None and (not out or out[-1][1] != page):
                out.append((pos - start, page))
    return out


def embedding_text(c: Chunk) -> str:
    """What the embedder sees: title, heading path and lead-in give a short passage its context."""
    head = c.title if not c.section or c.section == c.title else f"{c.title} – {c.section}"
    return "\n".join(x for x in (head, c.lead, c.text) if x)


def lexical_text(c: Chunk) -> str:
    """What BM25 indexes: the heading path, the lead-in or table header, and the passage."""
    section = c.section if c.section and not c.text.startswith(c.section) else ""
    return "\n".join(x for x in (section, c.lead, c.text) if x)
