"""The small frozen dataclasses that cross every stage boundary.

corpus -> SourceDoc -> index -> Chunk -> retrieval -> Hit -> answer -> Answer(Citation...)
No framework type (Chroma dicts, llama-index nodes) leaves the module that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def page_at(first: int | None, starts: tuple[tuple[int, int], ...], offset: int) -> int | None:
    """The page at `offset` of a text that begins on page `first` and changes page at `starts`."""
    page = first
    for start, p in starts:
        if start <= offset:
            page = p
    return page


@dataclass(frozen=True)
class Block:
    """A paragraph-like unit of a document: its text, where it starts, and what frames it."""

    text: str
    start: int  # character offset in SourceDoc.text
    page: int | None = None  # physical page (1-based) for PDFs, None for web pages
    section: str = ""
    is_heading: bool = False
    page_starts: tuple[tuple[int, int], ...] = ()  # (offset in text, page) where a later page begins
    ocr: bool = False  # text recognized from a scanned page
    role: str = "paragraph"  # heading, paragraph, list, table, footnote, caption
    level: int = 0  # heading level, 1 = top
    label: str | None = None  # printed page label where it differs from the physical page

    def page_at(self, offset: int) -> int | None:
        """The page of the character at `offset` of this block's text."""
        return page_at(self.page, self.page_starts, offset)


@dataclass(frozen=True)
class SourceDoc:
    """One loaded and normalized document."""

    id: str
    title: str
    source: str  # URL for web pages, file path otherwise
    text: str
    blocks: tuple[Block, ...]
    meta: dict[str, str] = field(default_factory=dict)
    page_labels: dict[int, str] = field(default_factory=dict)  # physical page -> printed label

    @property
    def content_hash(self) -> str:
        """Stable hash of the normalized text and title (what chunking depends on)."""
        import hashlib

        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage with everything a citation needs."""

    id: str
    doc_id: str
    title: str
    source: str
    text: str
    start: int
    end: int
    page: int | None = None
    page_end: int | None = None
    section: str = ""
    page_starts: tuple[tuple[int, int], ...] = ()  # (offset in text, page) where a page begins
    page_labels: tuple[tuple[int, str], ...] = ()  # (page, printed label) where they differ
    ocr: bool = False
    role: str = "paragraph"  # the blocks' role: paragraph, list, table, footnote, caption
    lead: str = ""  # what the text depends on but does not hold: its list's lead-in, its table's header

    def page_at(self, offset: int) -> int | None:
        """The page on which the character at `offset` of this chunk's text stands."""
        return page_at(self.page, self.page_starts, offset)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and why it was retrieved."""

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity, if the dense side found it
    lexical: float | None = None  # BM25 score, if the lexical side found it
    why: str = ""


@dataclass(frozen=True)
class Citation:
    """Passage [n] of an answer: where it is and the verbatim quote used.

    `page` is the physical page (1-based, what a PDF viewer's #page=N opens); `page_label` is
    the number printed on it, where the PDF defines one that differs (e.g. "iv", or 15 on page 21).
    """

    n: int
    title: str
    source: str
    page: int | None
    quote: str
    chunk_id: str = ""
    page_label: str | None = None
    ocr: bool = False
    section: str = ""  # the heading path the quote stands under ("2 Ziele > 2.1 Zeitplan")
    other_version: bool = False  # quoted only to show what another version of the document says

    def place(self, printed: str = "gedruckt") -> str:
        """Where the quote stands, for people: ", S. 21 (gedruckt: 15)", ", Folie 3" for a slide,
        ", Blatt „Gebühren“" for a spreadsheet's sheet (their labels say so), or "" for a web page."""
        if self.page_label and self.page_label.startswith((SLIDE, SHEET)):
            return f", {self.page_label}"
        page = f", S. {self.page}" if self.page is not None else ""
        if self.page_label and self.page_label != str(self.page):
            page += f" ({printed}: {self.page_label})"
        return page


SLIDE = "Folie "  # the page label of a presentation's slide: "Folie 3"
SHEET = "Blatt "  # the page label of a spreadsheet's sheet: "Blatt „Gebühren 2024“"


@dataclass(frozen=True)
class Answer:
    """The result of asking: text with [n] markers, its citations, and whether it refused."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    closest: tuple[Citation, ...] = ()  # shown with a refusal: what came nearest
    verification: dict | None = None  # LLM mode: what claim verification did
    why: dict | None = None  # extractive: the chosen unit's features and P(answerable)

    def to_json(self) -> dict:
        """The CLI/API JSON contract."""
        from dataclasses import asdict

        def cite(c: Citation) -> dict:
            d = asdict(c)
            d.pop("chunk_id")
            if d["page_label"] is None:
                d.pop("page_label")
            if not d["ocr"]:
                d.pop("ocr")
            if not d["other_version"]:
                d.pop("other_version")
            return d

        out: dict = {
            "answer": self.text,
            "refused": self.refused,
            "citations": [cite(c) for c in self.citations],
        }
        if self.closest:
            out["closest"] = [cite(c) for c in self.closest]
        if self.verification is not None:
            out["verification"] = self.verification
        if self.why is not None:
            out["why"] = self.why
        return out


@dataclass
class IngestReport:
    """What an ingest run did, per document and in total."""

    documents: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0
    pages: int = 0
    read_seconds: float = 0.0
    embed_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
