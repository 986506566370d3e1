"""Question sets as people write them: the JSONL format of evals/README.md, or a CSV from a
spreadsheet (`Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen`). Both become the `Item`s that
`assistant.evaluate.scoring` checks. A bad row is reported with its row number and what is wrong, in
German; the good rows are kept. The chat's 👍/👎 feedback file is turned into a set here too.

CSV rules (evals/README.md, "Fragensatz als Tabelle"):
- the first row names the columns; only „Frage“ is required, case and order do not matter;
  optional extra columns are „Zitat“, „ID“ and „Notiz“;
- cells are separated by „;“ (what German Excel writes), or by „,“ or a tab, found from the
  header row; UTF-8 with or without BOM, UTF-16 with BOM and Windows-1252 (older Excel) are read;
- „Erwartete Begriffe“: terms separated by „|“, each must appear in the answer; „ / “ (a slash
  with spaces) separates alternatives of one term. Not „,“: German numbers („3,5 %“) and names
  („Müller, Hans“) contain commas;
- „Dokument“: a file name a citation must come from („|“ between several: each must be cited);
- „Seite“: the page a citation must name (a whole number; „S. 5“ is read as 5);
- „Ablehnen“: „ja“ when the documents do not answer the question, „nein“ or empty otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from assistant.evaluate.scoring import Item
from assistant.text.normalize import decode_text

COLUMNS = ("Frage", "Erwartete Begriffe", "Dokument", "Seite", "Ablehnen")
EXTRA_COLUMNS = ("Zitat", "ID", "Notiz")
# The example of evals/README.md, offered on the page as a template to fill in.
TEMPLATE = """Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen
Wer nahm am 13. Juni 2016 teil?;Kahlen | Schlusche | Brockmann | Lühr;;;nein
Wann wurde das Bürgerbüro eröffnet?;3. März 2021 / 03.03.2021;jahresbericht.pdf;2;
Wie hoch ist die Hundesteuer in Gütersloh?;;;;ja
"""
MAX_QUESTIONS = 1000
YES = {"ja", "j", "x", "yes", "y", "wahr", "true", "1"}
NO = {"nein", "n", "no", "falsch", "false", "0", ""}
_FIELD = {"frage": "question", "erwartete begriffe": "terms", "dokument": "doc", "seite": "page",
          "ablehnen": "refuse", "zitat": "quote", "id": "id", "notiz": "note"}
_ITEM_FIELDS = {f.name: f for f in fields(Item)}


@dataclass(frozen=True)
class RowProblem:
    """A row that could not be read (or a part of it that was ignored), in German."""

    row: int  # spreadsheet row (1 = the header row) or JSONL line
    text: str

    def __str__(self) -> str:
        return f"Zeile {self.row}: {self.text}"


@dataclass
class ParsedSet:
    """The questions read from a file and the problems of the rows that were left out."""

    items: list[Item] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    kind: str = ""  # "CSV" or "JSONL"
    encoding: str = ""
    delimiter: str = ""

    def summary(self) -> str:
        """One German sentence: how many questions were read, from what, and how many rows not."""
        how = self.kind + (f", {self.encoding}" if self.encoding else "")
        if self.delimiter:
            how += f", Trennzeichen „{'Tab' if self.delimiter == chr(9) else self.delimiter}“"
        n = len(self.items)
        text = f"{n} {'Frage' if n == 1 else 'Fragen'} gelesen ({how})."
        if self.problems:
            text += f" {len(self.problems)} {'Hinweis' if len(self.problems) == 1 else 'Hinweise'}:"
        return text


def read_question_set(filename: str, data: bytes, max_chars: int = 2000) -> ParsedSet:
    """A question file by its name: .jsonl/.json as JSONL, else CSV (a .txt that starts with
    „{“ is JSONL too)."""
    text, encoding = decode_text(data)
    suffix = Path(filename).suffix.lower()
    if suffix in (".jsonl", ".json") or (suffix not in (".csv", ".tsv")
                                         and text.lstrip().startswith("{")):
        parsed = parse_jsonl(text, max_chars)
    else:
        parsed = parse_csv(text, max_chars)
    parsed.encoding = encoding
    return parsed


# --- CSV -------------------------------------------------------------------------------------

def _key(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("\ufeff", "")).strip().casefold()


def sniff_delimiter(header: str) -> str:
    """„;“, a tab or „,“: whichever of them the header row holds most (ties: in that order)."""
    counts = {d: header.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def parse_csv(text: str, max_chars: int = 2000) -> ParsedSet:
    """A spreadsheet question set (see the module docstring); row numbers as the spreadsheet
    shows them: the header is row 1."""
    text = text.lstrip("\ufeff")
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    out = ParsedSet(kind="CSV", delimiter=delimiter)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        out.problems.append(RowProblem(1, "Die Datei ist leer: es fehlt die Kopfzeile "
                                          + ";".join(COLUMNS) + "."))
        return out
    columns: list[str | None] = []
    for i, name in enumerate(header, start=1):
        key = _key(name)
        if key in _FIELD and _FIELD[key] in columns:
            out.problems.append(RowProblem(1, f"Spalte „{name.strip()}“ kommt zweimal vor; "
                                              f"die {i}. Spalte wird nicht gelesen."))
            columns.append(None)
        elif key in _FIELD:
            columns.append(_FIELD[key])
        else:
            if key:
                out.problems.append(RowProblem(1, f"Spalte „{name.strip()}“ ist unbekannt und wird "
                                                  "nicht gelesen (bekannt: "
                                                  + ", ".join(COLUMNS + EXTRA_COLUMNS) + ")."))
            columns.append(None)
    if "question" not in columns:
        out.problems = [RowProblem(1, "Die Kopfzeile hat keine Spalte „Frage“. Erwartet "
                                             "wird: " + ";".join(COLUMNS) + f" (gefunden: "
                                             f"{delimiter.join(h.strip() for h in header)}).")]
        return out
    seen: dict[str, int] = {}
    row = 1
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a NUL byte or a quote left open up to the end
            out.problems.append(RowProblem(row + 1, f"nicht lesbar ({e}); der Rest der Datei "
                                                    "wird nicht gelesen."))
            break
        row += 1
        if not any(c.strip() for c in cells):
            continue  # spreadsheets export empty rows as ";;;;"
        if len(out.items) >= MAX_QUESTIONS:
            out.problems.append(RowProblem(row, f"mehr als {MAX_QUESTIONS} Fragen: diese und "
                                                "alle weiteren Zeilen werden nicht gelesen."))
            break
        item = _csv_row(row, cells, columns, out.problems, seen, max_chars)
        if item is not None:
            out.items.append(item)
    return out


def _csv_row(row: int, cells: list[str], columns: list[str | None], problems: list[RowProblem],
             seen: dict[str, int], max_chars: int) -> Item | None:
    """One data row as an Item, or None with its problems appended (all of them, not just one)."""
    said: list[str] = []
    extra = [c for c in cells[len(columns):] if c.strip()]
    if extra:
        said.append(f"{len(cells)} Zellen, aber nur {len(columns)} Spalten in der Kopfzeile "
                    "(steht das Trennzeichen im Text? Dann die Zelle in Anführungszeichen setzen)")
    cell = {name: cells[i].strip() for i, name in enumerate(columns)
            if name is not None and i < len(cells)}
    question = re.sub(r"\s+", " ", cell.get("question", "")).strip()
    if not question:
        said.append("„Frage“ ist leer")
    elif len(question) > max_chars:
        said.append(f"die Frage ist zu lang ({len(question)} Zeichen, höchstens {max_chars})")
    terms = tuple(alts for part in cell.get("terms", "").split("|")
                  if (alts := tuple(a.strip() for a in part.split(" / ") if a.strip())))
    docs = tuple(d.strip().replace("\\", "/").rsplit("/", 1)[-1]
                 for d in cell.get("doc", "").split("|") if d.strip())
    page = None
    if raw := cell.get("page", ""):
        m = re.fullmatch(r"(?:s\.|seite)?\s*(\d+)", raw, re.IGNORECASE)
        if m and int(m.group(1)) >= 1:
            page = int(m.group(1))
        else:
            said.append(f"„Seite“ muss eine ganze Zahl ab 1 sein (gefunden: „{raw}“)")
    refuse = False
    raw = cell.get("refuse", "")
    if raw.casefold() in YES:
        refuse = True
    elif raw.casefold() not in NO:
        said.append(f"„Ablehnen“ muss „ja“, „nein“ oder leer sein (gefunden: „{raw}“)")
    quote = cell.get("quote", "")
    if refuse and (terms or docs or page is not None or quote):
        given = [n for n, v in (("Erwartete Begriffe", terms), ("Dokument", docs),
                                ("Seite", page is not None), ("Zitat", quote)) if v]
        said.append(f"„Ablehnen“ ist „ja“, aber {', '.join(given)} angegeben: eine Frage, die "
                    "abgelehnt werden soll, hat keine erwartete Antwort. Bitte eins von beiden leeren")
    item_id = cell.get("id", "") or f"zeile-{row}"
    if item_id in seen:
        said.append(f"„ID“ {item_id} steht schon in Zeile {seen[item_id]}")
    if said:
        problems.append(RowProblem(row, "; ".join(said) + ". Die Zeile wird nicht ausgewertet."))
        return None
    seen[item_id] = row
    return Item(id=item_id, question=question, terms=terms, quote=quote, page=page, refuse=refuse,
                doc=docs[0] if len(docs) == 1 else "", docs=docs if len(docs) > 1 else (),
                note=cell.get("note", ""))


def load_items(path: Path) -> list[Item]:
    """A JSONL question set from disk (a shipped set, the feedback file), checked line by line
    as an uploaded one is: a bad line is an error that names it."""
    parsed = parse_jsonl(path.read_text(encoding="utf-8"), max_chars=100_000)
    if parsed.problems:
        raise ValueError(f"{path}: " + " · ".join(map(str, parsed.problems)))
    return parsed.items


# --- JSONL ----------------------------------------------------------------------------------

def parse_jsonl(text: str, max_chars: int = 2000) -> ParsedSet:
    """The JSONL format of evals/README.md, line by line; `//` lines and blank lines are skipped."""
    out = ParsedSet(kind="JSONL")
    seen: dict[str, int] = {}
    for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        if len(out.items) >= MAX_QUESTIONS:
            out.problems.append(RowProblem(n, f"mehr als {MAX_QUESTIONS} Fragen: diese und alle "
                                              "weiteren Zeilen werden nicht gelesen."))
            break
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            out.problems.append(RowProblem(n, f"kein gültiges JSON ({e.msg}, Zeichen {e.colno}). "
                                              "Die Zeile wird nicht ausgewertet."))
            continue
        said = _json_problems(d, max_chars) if isinstance(d, dict) else [
            "keine JSON-Objektzeile ({…} erwartet)"]
        if not said:
            d.setdefault("id", f"zeile-{n}")
            if d["id"] in seen:
                said.append(f"„id“ {d['id']} steht schon in Zeile {seen[d['id']]}")
        if said:
            out.problems.append(RowProblem(n, "; ".join(said) + ". Die Zeile wird nicht ausgewertet."))
            continue
        seen[d["id"]] = n
        d["terms"] = tuple(tuple(g) for g in d.get("terms", ()))
        d["turns"] = tuple(d.get("turns", ()))
        d["docs"] = tuple(d.get("docs", ()))
        out.items.append(Item(**d))
    return out


def _json_problems(d: dict, max_chars: int) -> list[str]:
    said = [f"unbekanntes Feld „{k}“ (bekannt: {', '.join(_ITEM_FIELDS)})"
            for k in d if k not in _ITEM_FIELDS]
    question = d.get("question")
    if not isinstance(question, str) or not question.strip():
        said.append("„question“ fehlt oder ist leer")
    elif len(question) > max_chars:
        said.append(f"die Frage ist zu lang ({len(question)} Zeichen, höchstens {max_chars})")
    for k in ("id", "quote", "reference", "note", "doc", "not_doc", "kind"):
        if k in d and not isinstance(d[k], str):
            said.append(f"„{k}“ muss Text sein")
    for k in ("refuse", "held_out"):
        if k in d and not isinstance(d[k], bool):
            said.append(f"„{k}“ muss true oder false sein")
    if "page" in d and d["page"] is not None and (
            not isinstance(d["page"], int) or isinstance(d["page"], bool) or d["page"] < 1):
        said.append("„page“ muss eine ganze Zahl ab 1 sein")
    terms = d.get("terms", [])
    if not (isinstance(terms, list) and all(isinstance(g, list) and g and
                                            all(isinstance(t, str) for t in g) for g in terms)):
        said.append('„terms“ muss eine Liste von Listen sein, z. B. [["Kahlen"], ["Lühr"]]')
    for k in ("turns", "docs"):
        if k in d and not (isinstance(d[k], list) and all(isinstance(t, str) for t in d[k])):
            said.append(f"„{k}“ muss eine Liste von Texten sein")
    return said


# --- writing, and the chat's feedback ---------------------------------------------------------

def items_to_jsonl(items: list[Item]) -> str:
    """The items in the JSONL format (fields at their default are left out)."""
    lines = []
    for it in items:
        d = {}
        for name, f in _ITEM_FIELDS.items():
            value = getattr(it, name)
            if name in ("id", "question") or value != f.default:
                d[name] = [list(g) for g in value] if name == "terms" else (
                    list(value) if isinstance(value, tuple) else value)
        lines.append(json.dumps(d, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def items_to_csv(items: list[Item]) -> str:
    """The items as a spreadsheet CSV (";"-separated, to be saved with a BOM for Excel); turns,
    reference answers and not_doc have no column and are left out."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(COLUMNS + EXTRA_COLUMNS)
    for it in items:
        w.writerow([it.question, " | ".join(" / ".join(g) for g in it.terms),
                    " | ".join(it.docs or ((it.doc,) if it.doc else ())),
                    "" if it.page is None else it.page, "ja" if it.refuse else "",
                    it.quote, it.id, it.note])
    return buf.getvalue()


@dataclass
class FeedbackSet:
    """The chat's ratings as questions: 👍 ones are ready to run, 👎 ones need an expectation."""

    liked: list[Item]
    disliked: list[Item]
    problems: list[RowProblem]

    @property
    def items(self) -> list[Item]:
        return self.liked + self.disliked


def feedback_set(path: Path) -> FeedbackSet:
    """Read the feedback file (one evaluation item per rating, written by Service.feedback).
    A question rated more than once counts with its latest rating. 👎 items get a note
    „Bitte prüfen“ in front of the answer that was rated."""
    if not path.is_file():
        return FeedbackSet([], [], [])
    parsed = parse_jsonl(path.read_text(encoding="utf-8", errors="replace"), max_chars=10**9)
    latest: dict[str, Item] = {}
    for it in parsed.items:
        latest.pop(_key(it.question), None)  # re-inserted: the order is that of the latest rating
        latest[_key(it.question)] = it
    liked = [it for it in latest.values() if not it.id.startswith("fb-down-")]
    disliked = [Item(id=it.id, question=it.question, refuse=it.refuse,
                     note=f"Bitte prüfen und erwartete Begriffe eintragen. {it.note}".strip())
                for it in latest.values() if it.id.startswith("fb-down-")]
    return FeedbackSet(liked, disliked, parsed.problems)
