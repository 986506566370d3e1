"""German text handling shared by every stage: normalization, sentences, dates, the BM25 analyzer.

Retrieval, answer selection and (later) claim verification must all see text the same way,
so the rules live here once.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# --- normalization -----------------------------------------------------------------------

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """NFKC, soft hyphens and zero-width marks removed, whitespace collapsed; umlauts kept."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _ZERO_WIDTH.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a file's bytes and the encoding used: UTF-8, UTF-16 with BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Notepad's "Unicode"
        return data.decode("utf-16", errors="replace"), "UTF-16"
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Windows-1252"  # old files: keep umlauts


def looks_binary(text: str) -> bool:
    """Whether decoded text is really binary data: a NUL, or over 1 % control characters."""
    head = text[:65536]
    return "\x00" in head or len(re.findall(r"[\x01-\x08\x0e-\x1f\ufffd]", head)) > len(head) // 100


# --- sentences ---------------------------------------------------------------------------

# Lower-cased abbreviations (without the final dot) after which a period never ends a sentence.
ABBREVIATIONS = frozenset(
    """
    abb abs abschn allg anh anm art aufl bd bearb bes betr bspw bzgl bzw ca chr dgl dipl dr dt
    ebd ehem entspr etc ev evtl f ff fa fr frl gem gegr geb ges gg ggf hr hrsg hg inkl insb
    ing jh jhd jr kap kfm lfd lt max mdb mdl min mio mrd nr nrn o od pkt prof rd s sen sog
    spez st std str tel tsd u usw v vgl vs z zb zt ziff zzgl bzgl jan feb mär apr jun jul aug
    sep sept okt nov dez mo di mi do sa so
    """.split()
)

_MONTHS = {
    "januar": 1, "jänner": 1, "jan": 1, "january": 1,
    "februar": 2, "feb": 2, "february": 2,
    "märz": 3, "maerz": 3, "mär": 3, "mrz": 3, "march": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "october": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "dez": 12, "december": 12, "dec": 12,
}
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)

_REFERENCE_WORDS = frozenset({"s", "nr", "abs", "art", "kap", "§", "ziff", "seite", "nummer"})
_BOUNDARY = re.compile(r"[.!?…]+[\"'“”»«)\]]*(?=\s+)")
_LAST_TOKEN = re.compile(r"(\S+)$")
# A table-of-contents line: dot leaders and a page number (arabic or roman).
DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlcIVXLC]+\s*$")
_PROSE_END = re.compile(r"[.!?:;)\"“”»]$")
_BULLET = re.compile(r"^\s*(?:[•▪◦‣∙·*–—-]|\d{1,2}[.)]\s|0\d\s+(?=\S))")


def _is_boundary(text: str, end: int) -> bool:
    """Decide whether the punctuation run ending at `end` closes a sentence."""
    before = text[:end].rstrip("\"'“”»«)]")
    if before.endswith(("!", "?", "…")):
        return True
    token = _LAST_TOKEN.search(before[:-1]) if before.endswith(".") else None
    word = token.group(1).lstrip("(\"'„“»«[") if token else ""
    rest = text[end:].lstrip()
    nxt = rest.split(" ", 1)[0].strip(".,;:()\"'„“»«") if rest else ""
    if not rest:
        return True
    if rest[0].islower() or rest[0] in ",;:":
        return False  # "z. B. die ...", "bzw. der ..."
    low = word.lower()
    if low in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False  # "Dr. Brockmann", "z. B. Halle", "S. 12"
    if "." in word and all(len(p) <= 2 for p in word.split(".") if p):
        return False  # "v.l.n.r.", "u.a.", "z.B."
    if word.isdigit() and len(word) <= 2:
        prev = before[: -len(word) - 1].rstrip().rsplit(" ", 1)[-1].lower().rstrip(".")
        if prev not in _REFERENCE_WORDS:
            return False  # German ordinals: "13. Juni", "2. Staffel"; not "Abs. 2. Dann"
    return not (word.isdigit() and nxt.lower() in _MONTHS)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the German sentences in `text`; newlines always separate."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        start = 0
        for m in _BOUNDARY.finditer(line):
            if _is_boundary(line, m.end()):
                _add_span(spans, line, offset, start, m.end())
                start = m.end()
        _add_span(spans, line, offset, start, len(line))
        offset += len(line) + 1
    return spans


def _add_span(spans: list[tuple[int, int]], line: str, offset: int, a: int, b: int) -> None:
    seg = line[a:b]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    if seg.strip():
        spans.append((offset + a + lead, offset + b - trail))


def split_sentences(text: str) -> list[str]:
    """The German sentences of `text` (see sentence_spans)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def ends_like_prose(line: str) -> bool:
    """Whether a line ends as a sentence or clause does (".", "!", "?", ":", ";", a closing
    bracket or quote): a heading, a caption or a line wrapped mid-sentence does not."""
    return bool(_PROSE_END.search(line))


def is_bullet(line: str) -> bool:
    """True for list items: "•", "-", "1." or "1)" at the start of a line."""
    return bool(_BULLET.match(line))


# --- dates --------------------------------------------------------------------------------

_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_NUMERIC = re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4}|\d{2})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DATE_WORD = re.compile(
    rf"\b(\d{{1,2}})\.?\s*({_MONTH_RE})\.?(?:\s+(\d{{4}}))?(?![a-zäöü])", re.IGNORECASE
)
_DATE_EN = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{4}})\b", re.IGNORECASE)
_SLASH_MONTH_YEAR = re.compile(r"\b(\d{1,2})/(\d{4})\b")


def _year(y: str) -> int:
    n = int(y)
    return n + 2000 if n < 100 and len(y) == 2 else n


def find_dates(text: str) -> list[tuple[int, int, int | None, int, int | None]]:
    """Dates in `text` as (start, end, year, month, day); year or day may be None."""
    found: list[tuple[int, int, int | None, int, int | None]] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match, y: int | None, mo: int, d: int | None) -> None:
        if not 1 <= mo <= 12 or (d is not None and not 1 <= d <= 31):
            return
        if any(a < m.end() and m.start() < b for a, b in taken):
            return
        taken.append((m.start(), m.end()))
        found.append((m.start(), m.end(), y, mo, d))

    for m in _DATE_ISO.finditer(text):
        add(m, int(m[1]), int(m[2]), int(m[3]))
    for m in _DATE_NUMERIC.finditer(text):
        add(m, _year(m[3]), int(m[2]), int(m[1]))
    for m in _DATE_WORD.finditer(text):
        add(m, int(m[3]) if m[3] else None, _MONTHS[m[2].lower()], int(m[1]))
    for m in _DATE_EN.finditer(text):
        add(m, int(m[3]), _MONTHS[m[1].lower()], int(m[2]))
    for m in _MONTH_YEAR.finditer(text):
        add(m, int(m[2]), _MONTHS[m[1].lower()], None)
    for m in _SLASH_MONTH_YEAR.finditer(text):
        add(m, int(m[2]), int(m[1]), None)
    return sorted(found)


def date_tokens(year: int | None, month: int, day: int | None) -> list[str]:
    """Canonical index tokens for a date, so every notation of it meets the others."""
    toks = []
    if year and day:
        toks.append(f"d{year:04d}{month:02d}{day:02d}")
    if year:
        toks += [f"m{year:04d}{month:02d}", str(year)]
    if day:
        toks.append(f"dm{month:02d}{day:02d}")
    return toks


def spell_out_dates(text: str) -> str:
    """Rewrite numeric dates the way German prose writes them: "13.6.2016" -> "13. Juni 2016"."""
    out, last = [], 0
    for a, b, y, mo, d in find_dates(text):
        out.append(text[last:a])
        words = f"{d}. " if d else ""
        words += MONTH_NAMES[mo - 1] + (f" {y}" if y else "")
        out.append(words)
        last = b
    out.append(text[last:])
    return "".join(out)


# --- the analyzer for BM25 and term overlap ----------------------------------------------

ANALYZER_VERSION = "a3"  # bump when analyze() changes: the BM25 side is then rebuilt

STOPWORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer
    anderes auch auf aus bei beim bin bis bist da dabei damit dann das dass dasselbe dazu dein
    deine dem den denn der des dessen dich die dies diese diesem diesen dieser dieses dir doch
    dort du durch ein eine einem einen einer eines einig einige er es etwas euch euer eure für
    gegen gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre
    ihrem ihren ihrer im in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener
    jenes jetzt kann kein keine keinem keinen keiner man manche mein meine mich mir mit muss
    musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner
    sich sie sind so solche soll sollte sondern sonst über um und uns unser unter viel vom von
    vor war waren warst was weg weil weiter welche welchem welchen welcher welches wenn wer
    werde werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum zur zwar
    zwischen wann wieso weshalb warum wem wen wessen woher wohin womit worum the a an of to in
    on at is was were who what when where which how and or bitte gibt es nenne nennen sag sage
    sagen welchen etwa eigentlich denn mal seit bis ab
    """.split()
)

_NUMBER_WORDS = {
    "eins": "1", "ein": "1", "zwei": "2", "drei": "3", "vier": "4", "fünf": "5", "sechs": "6",
    "sieben": "7", "acht": "8", "neun": "9", "zehn": "10", "elf": "11", "zwölf": "12",
}
_WORD = re.compile(r"\w+", re.UNICODE)
_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball German in C

    return Stemmer.Stemmer("german")


def fold(word: str) -> str:
    """Lower-case with umlauts folded (ä -> a, ß -> ss), as index terms are."""
    return word.lower().translate(_FOLD)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Lower-case, umlaut-folded Snowball stem of one word."""
    return _stemmer().stemWord(word.lower()).translate(_FOLD)


def analyze(text: str, keep_stopwords: bool = False) -> list[str]:
    """BM25 tokens: date tokens, number words as digits, stems without stopwords (input NFKC'd);
    an identifier ("BAU-DA-2/2024", "§ 13") adds one exact token to its parts (see identifier)."""
    text = unicodedata.normalize("NFKC", text)
    tokens: list[str] = []
    last = 0
    for a, b, token, date in _marks(text):
        tokens += _words(text[last:a], keep_stopwords)
        if date:
            tokens += date_tokens(*date)
        else:
            tokens += _words(text[a:b], keep_stopwords) + [token]
        last = b
    tokens += _words(text[last:], keep_stopwords)
    return tokens


# A run of letters and digits joined by - / . (no space), or one word mixing letters and digits;
# "§ 13a", "Paragraph 13" name a paragraph.
_IDENTIFIER = re.compile(r"(?<![\w/.-])[^\W_]+(?:[-/.][^\W_]+)+(?![\w/-]|\.\w)|\b(?=[^\W\d_]*\d)"
                         r"(?=\d*[^\W\d_])[^\W_]+\b")
_PARAGRAPH = re.compile(r"(?:§+|\bparagra(?:ph|f)(?:en)?)\s*(\d+[a-z]?)\b", re.IGNORECASE)
_PARTS = re.compile(r"[^\W_]+")
_DIGIT_GROUPS = re.compile(r"\d[-/]\d")


def identifier(s: str) -> str | None:
    """The exact token of an identifier, or None if `s` is none: digits with letters
    ("KAE-08", "KAE08" -> "idkae08"), or digit groups joined by - or / ("63.1-2024/017" ->
    "id63x1x2024x017"). Punctuation between a letter and a digit does not count; between two
    digit groups it becomes an x, so "2/2024" and "22024" stay apart."""
    if not any(c.isdigit() for c in s):
        return None
    if not any(c.isalpha() for c in s) and not _DIGIT_GROUPS.search(s):
        return None  # a number: "1.000", "3.5"
    parts = _PARTS.findall(s.lower().translate(_FOLD))
    out = parts[0]
    for p in parts[1:]:
        out += ("x" if out[-1].isdigit() and p[0].isdigit() else "") + p
    return "id" + out


def _marks(text: str) -> list[tuple[int, int, str, tuple[int | None, int, int | None] | None]]:
    """Paragraphs, identifiers and dates in `text`, in order and apart, as (start, end, token,
    date): a date inside an identifier ("2/2024" in "BAU-DA-2/2024") is no date; an identifier
    that is all date ("13.6.2016") is one."""
    dates = find_dates(text)
    whole = {(a, b) for a, b, *_ in dates}
    marks: list[tuple[int, int, str, tuple[int | None, int, int | None] | None]] = [
        (m.start(), m.end(), "par" + m.group(1).lower(), None) for m in _PARAGRAPH.finditer(text)]
    for m in _IDENTIFIER.finditer(text):
        token = identifier(m.group())
        if token and m.span() not in whole and _free(m.start(), m.end(), marks):
            marks.append((m.start(), m.end(), token, None))
    marks += [(a, b, "", (y, mo, d)) for a, b, y, mo, d in dates if _free(a, b, marks)]
    return sorted(marks)


def _free(a: int, b: int, marks: list[tuple]) -> bool:
    return not any(x < b and a < y for x, y, *_ in marks)


def _words(text: str, keep_stopwords: bool) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _NUMBER_WORDS and w != "ein":
            out.append(_NUMBER_WORDS[w])
        elif keep_stopwords or (w not in STOPWORDS and (len(w) > 1 or w.isdigit())):
            out.append(stem(w))
    return out
