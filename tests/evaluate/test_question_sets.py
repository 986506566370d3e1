"""Question sets as staff write them (assistant/evaluate/question_sets.py): the spreadsheet CSV with a
German message for each bad row while the good rows are kept, its encodings and separators, the
JSONL format line by line, writing both back, and the chat's 👍/👎 ratings as a set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluate.question_sets import (
    TEMPLATE,
    feedback_set,
    items_to_csv,
    items_to_jsonl,
    load_items,
    parse_csv,
    parse_jsonl,
    read_question_set,
)
from assistant.evaluate.runner import shipped_sets
from assistant.evaluate.scoring import Item
from assistant.serve.service import feedback_item

HEADER = "Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen"


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join((header, *rows)) + "\r\n"


def test_good_rows_become_the_items_the_jsonl_loader_makes(tmp_path: Path):
    parsed = parse_csv(csv_of(
        "Wer nahm am 13. Juni 2016 teil?;Kahlen | Lühr / Luehr;;;nein",
        "Wann wurde das Bürgerbüro eröffnet?;3. März 2021;bericht-musterstadt.pdf;S. 2;",
        "Wie hoch ist die Hundesteuer in Gütersloh?;;;;ja",
        "Was regeln beide Satzungen?;Gebühr;satzung-2023.md | satzung-2024.md;;Nein"))
    assert parsed.problems == []
    jsonl = tmp_path / "same.jsonl"
    jsonl.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in [
        {"id": "zeile-2", "question": "Wer nahm am 13. Juni 2016 teil?",
         "terms": [["Kahlen"], ["Lühr", "Luehr"]]},
        {"id": "zeile-3", "question": "Wann wurde das Bürgerbüro eröffnet?",
         "terms": [["3. März 2021"]], "doc": "bericht-musterstadt.pdf", "page": 2},
        {"id": "zeile-4", "question": "Wie hoch ist die Hundesteuer in Gütersloh?", "refuse": True},
        {"id": "zeile-5", "question": "Was regeln beide Satzungen?", "terms": [["Gebühr"]],
         "docs": ["satzung-2023.md", "satzung-2024.md"]}]), encoding="utf-8")
    assert parsed.items == load_items(jsonl)
    assert parsed.summary() == "4 Fragen gelesen (CSV, Trennzeichen „;“)."


def test_the_optional_columns_in_any_order_and_case():
    parsed = parse_csv(csv_of("a1;Wo fand die Abschlussveranstaltung statt?;Berlin;„Berlin“ ist "
                              "gemeint;Die Abschlussveranstaltung fand in Berlin statt",
                              header="ID;frage;ERWARTETE BEGRIFFE;Notiz;Zitat"))
    assert parsed.problems == []
    assert parsed.items == [Item(id="a1", question="Wo fand die Abschlussveranstaltung statt?",
                                 terms=(("Berlin",),), note="„Berlin“ ist gemeint",
                                 quote="Die Abschlussveranstaltung fand in Berlin statt")]


def test_commas_and_slashes_inside_terms_are_text():
    """„|“ separates terms and „ / “ alternatives: decimal commas, „Müller, Hans“ and
    „Bürger/innen“ stay one term."""
    parsed = parse_csv(csv_of("Wie hoch ist der Anteil?;3,5 % | Müller, Hans | Bürger/innen;;;"))
    assert parsed.items[0].terms == (("3,5 %",), ("Müller, Hans",), ("Bürger/innen",))


@pytest.mark.parametrize(("row", "message"), [
    (";Kahlen;;;", "Zeile 3: „Frage“ ist leer. Die Zeile wird nicht ausgewertet."),
    ("Wer?;;;fünf;", "Zeile 3: „Seite“ muss eine ganze Zahl ab 1 sein (gefunden: „fünf“). "
                     "Die Zeile wird nicht ausgewertet."),
    ("Wer?;;;0;", "Zeile 3: „Seite“ muss eine ganze Zahl ab 1 sein (gefunden: „0“). "
                  "Die Zeile wird nicht ausgewertet."),
    ("Wer?;;;;vielleicht", "Zeile 3: „Ablehnen“ muss „ja“, „nein“ oder leer sein (gefunden: "
                           "„vielleicht“). Die Zeile wird nicht ausgewertet."),
    ("Hundesteuer?;Steuer;;4;ja", "Zeile 3: „Ablehnen“ ist „ja“, aber Erwartete Begriffe, Seite "
                                  "angegeben: eine Frage, die abgelehnt werden soll, hat keine "
                                  "erwartete Antwort. Bitte eins von beiden leeren. Die Zeile "
                                  "wird nicht ausgewertet."),
    ("Wer kam; und wann?;Kahlen;;;nein", "Zeile 3: 6 Zellen, aber nur 5 Spalten in der Kopfzeile "
                                      "(steht das Trennzeichen im Text? Dann die Zelle in "
                                      "Anführungszeichen setzen). Die Zeile wird nicht ausgewertet."),
    ("W" * 2001 + ";;;;", "Zeile 3: die Frage ist zu lang (2001 Zeichen, höchstens 2000). "
                          "Die Zeile wird nicht ausgewertet."),
])
def test_each_bad_row_is_named_with_its_row_and_the_good_rows_are_kept(row: str, message: str):
    parsed = parse_csv(csv_of("Wer nahm am 13. Juni 2016 teil?;Kahlen;;;", row,
                              "Wo fand die Abschlussveranstaltung statt?;Berlin;;;"))
    assert [str(p) for p in parsed.problems] == [message]
    assert [it.id for it in parsed.items] == ["zeile-2", "zeile-4"]
    assert parsed.summary() == "2 Fragen gelesen (CSV, Trennzeichen „;“). 1 Hinweis:"


def test_all_problems_of_a_row_are_named_at_once():
    parsed = parse_csv(csv_of(";;;S. x;vielleicht"))
    assert [str(p) for p in parsed.problems] == [
        "Zeile 2: „Frage“ ist leer; „Seite“ muss eine ganze Zahl ab 1 sein (gefunden: „S. x“); "
        "„Ablehnen“ muss „ja“, „nein“ oder leer sein (gefunden: „vielleicht“). "
        "Die Zeile wird nicht ausgewertet."]
    assert parsed.items == []


def test_a_repeated_id_is_named_and_the_first_row_kept():
    parsed = parse_csv(csv_of("a;Erste?", "a;Zweite?", header="ID;Frage"))
    assert [it.question for it in parsed.items] == ["Erste?"]
    assert [str(p) for p in parsed.problems] == [
        "Zeile 3: „ID“ a steht schon in Zeile 2. Die Zeile wird nicht ausgewertet."]


def test_row_numbers_are_the_spreadsheets_with_empty_rows_and_cells_over_two_lines():
    text = csv_of('"Wer nahm\nam 13. Juni 2016 teil?";Kahlen;;;', ";;;;", "Wer?;;;x;")
    parsed = parse_csv(text)
    assert parsed.items[0].question == "Wer nahm am 13. Juni 2016 teil?"
    assert [p.row for p in parsed.problems] == [4]  # header 1, question 2, empty row 3


def test_header_problems():
    no_question = parse_csv("Question;Terms\nWer?;Kahlen\n")
    assert no_question.items == []
    assert [str(p) for p in no_question.problems] == [
        "Zeile 1: Die Kopfzeile hat keine Spalte „Frage“. Erwartet wird: Frage;Erwartete Begriffe;"
        "Dokument;Seite;Ablehnen (gefunden: Question;Terms)."]
    unknown = parse_csv("Frage;Antwort;Frage\nWer?;Kahlen;Wie?\n")
    assert [it.question for it in unknown.items] == ["Wer?"]
    assert [str(p) for p in unknown.problems] == [
        "Zeile 1: Spalte „Antwort“ ist unbekannt und wird nicht gelesen (bekannt: Frage, "
        "Erwartete Begriffe, Dokument, Seite, Ablehnen, Zitat, ID, Notiz).",
        "Zeile 1: Spalte „Frage“ kommt zweimal vor; die 3. Spalte wird nicht gelesen."]
    assert [str(p) for p in parse_csv("").problems] == [
        "Zeile 1: Die Datei ist leer: es fehlt die Kopfzeile Frage;Erwartete Begriffe;Dokument;"
        "Seite;Ablehnen."]


ROWS = ["Wer nahm am 13. Juni 2016 teil?;Kahlen | Lühr;;;nein",
        "Wie hoch ist die Hundesteuer in Gütersloh?;;;;ja"]
WANT = [Item(id="zeile-2", question="Wer nahm am 13. Juni 2016 teil?",
             terms=(("Kahlen",), ("Lühr",))),
        Item(id="zeile-3", question="Wie hoch ist die Hundesteuer in Gütersloh?", refuse=True)]


@pytest.mark.parametrize(("data", "encoding"), [
    (csv_of(*ROWS).encode("utf-8-sig"), "UTF-8"),  # Excel „CSV UTF-8“: with BOM
    (csv_of(*ROWS).encode("utf-8"), "UTF-8"),
    (csv_of(*ROWS).encode("cp1252"), "Windows-1252"),  # older Excel „CSV (Trennzeichen-getrennt)“
    (csv_of(*ROWS).replace(";", "\t").encode("utf-16"), "UTF-16"),  # Excel „Unicode-Text“
])
def test_encodings_of_spreadsheet_programs(data: bytes, encoding: str):
    parsed = read_question_set("fragen.csv", data)
    assert parsed.problems == []
    assert parsed.items == WANT  # umlauts intact, BOM not in the first column's name
    assert parsed.encoding == encoding


def test_a_comma_separated_file_is_sniffed_from_its_header():
    text = csv_of(*(r.replace(";", ",").replace("Kahlen | Lühr", '"Kahlen | Lühr"') for r in ROWS),
                  header=HEADER.replace(";", ","))
    parsed = read_question_set("fragen.csv", text.encode())
    assert parsed.items == WANT and parsed.delimiter == ","
    assert parsed.summary() == "2 Fragen gelesen (CSV, UTF-8, Trennzeichen „,“)."


def test_the_shipped_sets_have_no_bad_line_and_a_bad_line_on_disk_is_named(tmp_path):
    for qs in shipped_sets():
        raw = qs.questions.read_bytes()
        parsed = read_question_set(qs.questions.name, raw)
        lines = [ln for ln in raw.decode("utf-8").splitlines()
                 if ln.strip() and not ln.lstrip().startswith("//")]
        assert parsed.problems == [] and len(parsed.items) == len(lines) >= 14, qs.name
    broken = tmp_path / "kaputt.jsonl"
    broken.write_text('{"id": "a", "question": "Wer nahm teil?"}\n{"id": "b", "question": 3}\n',
                      encoding="utf-8")
    with pytest.raises(ValueError, match="Zeile 2: „question“ fehlt oder ist leer"):
        load_items(broken)


def test_each_bad_jsonl_line_is_named_and_the_good_ones_kept():
    text = "\n".join([
        '// ein Kommentar',
        '{"id": "a", "question": "Wer nahm teil?", "terms": [["Kahlen"]]}',
        '{"id": "b", "question": "Wer?", "terms": ["Kahlen"]}',
        '{"id": "c", "qestion": "Wer?"}',
        '{"id": "d", "question": "Wer?", "page": "5", "refuse": "nein"}',
        '{"id": "e", "question": "Wer?"',
        '["Wer?"]',
        '{"id": "a", "question": "Noch einmal a?"}',
        '',
        '{"question": "Ohne id?", "refuse": true}',
    ])
    parsed = read_question_set("fragen.jsonl", text.encode())
    assert [it.id for it in parsed.items] == ["a", "zeile-10"]
    assert [str(p) for p in parsed.problems] == [
        'Zeile 3: „terms“ muss eine Liste von Listen sein, z. B. [["Kahlen"], ["Lühr"]]. '
        "Die Zeile wird nicht ausgewertet.",
        "Zeile 4: unbekanntes Feld „qestion“ (bekannt: id, question, terms, quote, page, refuse, "
        "reference, turns, note, doc, docs, not_doc, kind, held_out); „question“ fehlt oder ist "
        "leer. Die Zeile wird nicht ausgewertet.",
        "Zeile 5: „refuse“ muss true oder false sein; „page“ muss eine ganze Zahl ab 1 sein. "
        "Die Zeile wird nicht ausgewertet.",
        "Zeile 6: kein gültiges JSON (Expecting ',' delimiter, Zeichen 31). "
        "Die Zeile wird nicht ausgewertet.",
        "Zeile 7: keine JSON-Objektzeile ({…} erwartet). Die Zeile wird nicht ausgewertet.",
        "Zeile 8: „id“ a steht schon in Zeile 2. Die Zeile wird nicht ausgewertet."]


def test_a_txt_file_is_read_by_its_content():
    assert read_question_set("fragen.txt", b'{"question": "Wer?"}\n').kind == "JSONL"
    assert read_question_set("fragen.txt", b"Frage\nWer?\n").kind == "CSV"


def test_items_written_as_csv_and_jsonl_read_back_the_same():
    items = [Item(id="x1", question="Wer nahm teil?", terms=(("Kahlen",), ("Lühr", "Luehr")),
                  quote="Aus dem Rheinland; nahm Herr Kahlen teil", page=3, doc="a.pdf",
                  note="zwei\nZeilen"),
             Item(id="x2", question="Hundesteuer?", refuse=True),
             Item(id="x3", question="Beide?", docs=("a.md", "b.md"))]
    assert parse_csv(items_to_csv(items)).items == items
    assert parse_jsonl(items_to_jsonl(items)).items == items
    assert items_to_csv(items).splitlines()[0] == HEADER + ";Zitat;ID;Notiz"


def test_the_chats_ratings_become_a_question_set(tmp_path: Path):
    answered = {"answer": "Herr Kahlen und Herr Lühr [1]", "refused": False,
                "citations": [{"n": 1, "title": "Kooperation", "source": "x", "page": 2,
                               "quote": "Aus dem Rheinland nahm Herr Kahlen teil"}]}
    refused = {"answer": "Dazu steht nichts in den Dokumenten.", "refused": True, "citations": []}
    path = tmp_path / "feedback.jsonl"
    ratings = [feedback_item("Wer nahm teil?", answered, False, "extractive"),
               feedback_item("Hundesteuer?", refused, True, "extractive"),
               feedback_item("Wer nahm teil?", answered, True, "extractive"),  # changed its mind
               feedback_item("Wann war das Treffen?", refused, False, "extractive")]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ratings)
                    + "\nkaputt\n", encoding="utf-8")
    fb = feedback_set(path)
    assert [it.question for it in fb.liked] == ["Hundesteuer?", "Wer nahm teil?"]
    assert fb.liked[0].refuse is True
    assert fb.liked[1].quote == "Aus dem Rheinland nahm Herr Kahlen teil" and fb.liked[1].page == 2
    assert [it.question for it in fb.disliked] == ["Wann war das Treffen?"]
    review = fb.disliked[0]
    assert review.refuse is False and review.terms == () and review.quote == ""
    assert review.note.startswith("Bitte prüfen und erwartete Begriffe eintragen. Rückmeldung 👎")
    assert "Dazu steht nichts in den Dokumenten." in review.note
    assert [p.row for p in fb.problems] == [5]
    assert parse_csv(items_to_csv(fb.items)).items == [
        Item(id=it.id, question=it.question, terms=it.terms, quote=it.quote, page=it.page,
             refuse=it.refuse, note=it.note) for it in fb.items]  # the CSV has no reference column
    assert feedback_set(tmp_path / "fehlt.jsonl").items == []


def test_the_example_in_evals_readme_reads_without_problems():
    text = (Path(__file__).resolve().parents[2] / "evals" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Fragensatz als Tabelle", 1)[1]
    example = section.split("```\n", 2)[1]
    assert example == TEMPLATE  # the template the page offers
    parsed = parse_csv(example)
    assert parsed.problems == []
    assert [(it.terms, it.doc, it.page, it.refuse) for it in parsed.items] == [
        ((("Kahlen",), ("Schlusche",), ("Brockmann",), ("Lühr",)), "", None, False),
        ((("3. März 2021", "03.03.2021"),), "jahresbericht.pdf", 2, False),
        ((), "", None, True)]
