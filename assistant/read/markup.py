"""Plain text, Markdown and HTML into blocks with a role (headings, paragraphs, lists with their
lead-in, tables as rows naming their header); the row and lead-in builders every reader shares
(assistant.read.office and assistant.read.pdf use them too)."""

from __future__ import annotations

import html.parser
import re
from dataclasses import replace

from assistant.text.normalize import normalize
from assistant.text.sentences import ends_like_prose, is_bullet
from assistant.types import Block

_HEADING_MAX = 100


# --- plain text ----------------------------------------------------------------------------



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
        wrapped = prev and not ends_like_prose(prev) and not is_bullet(ln)
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
