"""German text: the analyzer for BM25 and term overlap."""


from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from assistant.text.dates import date_tokens, find_dates

ANALYZER_VERSION = "a4"  # bump when analyze() changes: the BM25 side is then rebuilt

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
    for a, b, token, date in marks(text):
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
# A number in thousands groups ("200.000", "1.380,00"): one token of its digits ("200000",
# "1380") beside the groups, so "200.000 Euro" meets "200000" and not every "200" and "000"
# A command, package or file name: a lower-case word with an inner hyphen, dot or underscore
# ("debian-edu-fsautoresize", "sshd_config"); an answer's fact (verify) and what an identifier
# question asks for (question)
CODE_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-._][a-z0-9]+)+")
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?![\d]|\.\d)")
# "§ 13", "§§ 12a", "Paragraph 5": one token "par13" beside the number
_PARAGRAPH = re.compile(r"(?:§+|\bparagra(?:ph|f)(?:en)?)\s*(\d+[a-z]?)\b", re.IGNORECASE)
_PARTS = re.compile(r"[^\W_]+")
_DIGIT_GROUPS = re.compile(r"\d[-/]\d")


# The exact tokens above: "par13" of "§ 13", "idkae08" of "KAE-08" (a word never has a digit
# after "par" or "id": "partei", "idee")
EXACT_TOKEN = re.compile(r"par\d\w*|id\w*\d\w*")


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


def marks(text: str) -> list[tuple[int, int, str, tuple[int | None, int, int | None] | None]]:
    """Paragraphs, identifiers, grouped numbers and dates in `text`, in order and apart, as
    (start, end, token, date): a date inside an identifier ("2/2024" in "BAU-DA-2/2024") is no
    date; an identifier that is all date ("13.6.2016") is one."""
    dates = find_dates(text)
    whole = {(a, b) for a, b, *_ in dates}
    found: list[tuple[int, int, str, tuple[int | None, int, int | None] | None]] = [
        (m.start(), m.end(), "par" + m.group(1).lower(), None) for m in _PARAGRAPH.finditer(text)]
    for m in _IDENTIFIER.finditer(text):
        token = identifier(m.group())
        if token and m.span() not in whole and _free(m.start(), m.end(), found):
            found.append((m.start(), m.end(), token, None))
    found += [(m.start(), m.end(), m.group().replace(".", ""), None)
              for m in _GROUPED.finditer(text) if _free(m.start(), m.end(), found)
              and (m.start(), m.end()) not in whole]
    found += [(a, b, "", (y, mo, d)) for a, b, y, mo, d in dates if _free(a, b, found)]
    return sorted(found)


def _free(a: int, b: int, taken: list[tuple]) -> bool:
    return not any(x < b and a < y for x, y, *_ in taken)


def _words(text: str, keep_stopwords: bool) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _NUMBER_WORDS and w != "ein":
            out.append(_NUMBER_WORDS[w])
        elif keep_stopwords or (w not in STOPWORDS and (len(w) > 1 or w.isdigit())):
            out.append(stem(w))
    return out
