"""Stage 2, SourceDoc -> Chunks: sentence-aware German chunking inside sections.

Blocks are packed into chunks of at most `max_chars`; a block longer than that is cut at
sentence boundaries, never inside a sentence. A heading starts a new chunk. Chunk ids hash
(document id, position, text), so re-chunking unchanged text yields the same ids.
"""

from __future__ import annotations

import hashlib

from assistant.text import sentence_spans
from assistant.types import Block, Chunk, SourceDoc

CHUNKER_VERSION = "c2"


def chunk(doc: SourceDoc, max_chars: int = 600) -> list[Chunk]:
    """Split one document into retrievable chunks with section, span and pages."""
    pieces = _pieces(doc, max_chars)
    chunks: list[Chunk] = []
    group: list[tuple[int, int, Block]] = []
    for piece in pieces:
        a, b, block = piece
        starts_section = block.is_heading and group and not group[-1][2].is_heading
        too_long = group and b - group[0][0] > max_chars
        if too_long and doc.text[group[-1][1] - 1] == ":" and b - group[0][0] <= 1.5 * max_chars:
            too_long = False  # keep "folgende Kommunen:" together with the list it announces
        if starts_section or too_long:
            chunks.append(_make(doc, group, len(chunks)))
            group = []
        group.append(piece)
    if group:
        chunks.append(_make(doc, group, len(chunks)))
    return [c for c in chunks if c.text.strip()]


def _pieces(doc: SourceDoc, max_chars: int) -> list[tuple[int, int, Block]]:
    """Blocks as (start, end, block); over-long blocks cut into sentence runs."""
    out = []
    for block in doc.blocks:
        end = block.start + len(block.text)
        if end - block.start <= max_chars:
            out.append((block.start, end, block))
            continue
        run_start, prev_end = None, block.start
        for sa, sb in sentence_spans(block.text):
            sa, sb = block.start + sa, block.start + sb
            if run_start is None:
                run_start = sa
            elif sb - run_start > max_chars:
                out.append((run_start, prev_end, block))
                run_start = sa
            prev_end = sb
        if run_start is not None:
            out.append((run_start, prev_end, block))
    return out


def _make(doc: SourceDoc, group: list[tuple[int, int, Block]], position: int) -> Chunk:
    start, end = group[0][0], group[-1][1]
    text = doc.text[start:end]
    blocks = [b for _, _, b in group]
    section = next((b.section for b in blocks if b.section), "")
    page_starts = _page_starts(group, start)
    pages = [p for _, p in page_starts]
    labels = tuple((p, doc.page_labels[p]) for p in sorted(set(pages)) if p in doc.page_labels)
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
    )


def _page_starts(group: list[tuple[int, int, Block]], start: int) -> list[tuple[int, int]]:
    """(offset in the chunk, page) wherever the page changes, from the blocks' own page breaks."""
    out: list[tuple[int, int]] = []
    for a, b, block in group:
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
    """What the embedder sees: title and section give a short passage its context."""
    head = c.title if not c.section or c.section == c.title else f"{c.title} – {c.section}"
    return f"{head}\n{c.text}"


def lexical_text(c: Chunk) -> str:
    """What BM25 indexes: the section heading and the passage."""
    return f"{c.section}\n{c.text}" if c.section and not c.text.startswith(c.section) else c.text
