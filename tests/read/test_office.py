"""Word and Excel files, generated here with python-docx and openpyxl: headings become the section
path, lists keep their lead-in, tables and sheets become rows naming their header, tracked
deletions, comments and images stay out of the text, and broken files get a German message
while the rest of the folder is read."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from PIL import Image

from assistant.pipeline import build_pipeline
from assistant.read.corpus import DocumentError, load_corpus, load_document
from assistant.serve.service import RequestError, check_content
from tests.conftest import make_settings


def make_docx(path: Path) -> Path:
    d = docx.Document()
    d.core_properties.title = "Dienstanweisung BAU-DA-3/2025"
    d.add_heading("Dienstanweisung Vertretung im Bauordnungsamt", level=1)
    d.add_paragraph("Diese Dienstanweisung gilt ab dem 1. März 2025.")
    d.add_heading("Vertretung bei Abwesenheit", level=2)
    d.add_paragraph("Bei einer Abwesenheit von mehr als drei Arbeitstagen gilt:")
    d.add_paragraph("Frau Dr. Petersen vertritt die Sachbearbeitung.", style="List Bullet")
    d.add_paragraph("Herr Okafor zeichnet die Eingangsbestätigungen.", style="List Bullet")
    p = d.add_paragraph("Die Übergabe erfolgt schriftlich.")
    # a tracked deletion: Word keeps the deleted words as w:delText, they are not in the text
    p._p.append(parse_xml(f'<w:del {nsdecls("w")} w:id="1" w:author="A" w:date="2025-01-01T00:00:00Z">'
                          '<w:r><w:delText> Mündlich genügt GEHEIMALT.</w:delText></w:r></w:del>'))
    commented = d.add_paragraph("Rückfragen klärt die Amtsleitung.")
    d.add_comment(commented.runs, text="Kommentar KOMMENTARGEHEIM bitte prüfen", author="B")
    d.add_heading("Zuständigkeiten", level=2)
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Amt", "Zuständigkeit", "Telefon"),
                             ("Bauordnungsamt", "Baugenehmigungen", "0421 361-100"),
                             ("Ordnungsamt", "Sondernutzungen", "0421 361-200")]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    image = path.parent / "logo.png"
    Image.new("RGB", (20, 20), "red").save(image)
    d.add_picture(str(image))
    d.save(path)
    return path


def make_xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Gebühren 2024"
    sheet.append(["Leistung", "Gebühr (Euro)", "Rechtsgrundlage"])
    sheet.append(["Personalausweis", 37, "PAuswGebV"])
    sheet.append(["Reisepass", 70, "PassV"])
    other = book.create_sheet("Leer")
    other.append([None, None])
    third = book.create_sheet("Hunde")
    third.append(["Hund", "Steuer im Jahr"])
    third.append(["Erster Hund", 120.0])
    book.save(path)
    return path


def test_a_word_file_names_its_skipped_images(tmp_path):
    loaded = load_document(make_docx(tmp_path / "da.docx"))
    assert any("1 eingebettete(s) Bild(er) übersprungen" in w for w in loaded.warnings)


def test_a_workbook_gives_one_page_per_sheet_and_rows_with_their_header(tmp_path):
    loaded = load_document(make_xlsx(tmp_path / "gebuehren.xlsx"))
    assert loaded.pages == 2  # the empty sheet is no page
    tables = [b for b in loaded.doc.blocks if b.role == "table"]
    assert tables[0].page == 1 and tables[0].section == "Gebühren 2024"
    assert "Personalausweis – Gebühr (Euro): 37, Rechtsgrundlage: PAuswGebV." in tables[0].text
    assert tables[1].page == 2 and "Erster Hund – Steuer im Jahr: 120." in tables[1].text


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600), "verschlüsselt"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("notes.txt", "nur Text"), "ZIP-Archiv mit anderem"),
    (lambda p: p.write_bytes(make_docx(p).read_bytes()[:3000]), "beschädigt oder unvollständig"),
    (lambda p: p.write_bytes(b"Hallo, ich bin Text."), "beschädigt oder unvollständig"),
])
def test_a_broken_office_file_is_named_and_the_folder_is_still_read(tmp_path, make, message):
    folder = tmp_path / "docs"
    folder.mkdir()
    make(folder / "kaputt.docx")
    make_xlsx(folder / "gebuehren.xlsx")
    with pytest.raises(DocumentError, match=message):
        load_document(folder / "kaputt.docx")
    result = load_corpus([folder], {})
    assert [d.title for d in result.docs] == ["Gebühren 2024"]
    assert any("kaputt.docx" in e and message in e for e in result.errors)


def test_an_upload_that_is_no_word_file_is_refused_in_german(tmp_path):
    with pytest.raises(RequestError, match="„x.docx“ ist verschlüsselt"):
        check_content("x.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    check_content("da.docx", make_docx(tmp_path / "da.docx").read_bytes())  # a real one passes


def test_a_question_is_answered_from_a_table_row_of_a_word_file(tmp_path, corpus_copy,
                                                                fake_embedder):
    make_docx(corpus_copy / "da.docx")
    p = build_pipeline(make_settings(tmp_path, corpus_copy), embedder=fake_embedder)
    p.ingest(progress=False)
    a = p.ask("Welches Amt ist für Sondernutzungen zuständig und unter welcher Telefonnummer?")
    assert not a.refused and "Ordnungsamt" in a.text and "0421 361-200" in a.text
    assert a.citations[0].source.endswith("da.docx")


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    s1 = deck.slides.add_slide(deck.slide_layouts[1])
    s1.shapes.title.text = "Digitaler Bauantrag"
    body = s1.placeholders[1].text_frame
    body.text = "Der Antrag wird online gestellt:"
    for line in ("Formular im Bürgerportal ausfüllen", "Pläne als PDF hochladen"):
        para = body.add_paragraph()
        para.text, para.level = line, 1
    s2 = deck.slides.add_slide(deck.slide_layouts[5])
    s2.shapes.title.text = "Gebühren"
    table = s2.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Verfahren", "Gebühr"), ("Vereinfachtes Verfahren", "500 Euro"),
                             ("Regelverfahren", "1.200 Euro")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    image = path.parent / "bild.png"
    Image.new("RGB", (20, 20), "blue").save(image)
    s2.shapes.add_picture(str(image), Inches(7), Inches(1))
    deck.save(path)
    return path


def test_slides_become_pages_cited_as_folie(tmp_path, corpus_copy, fake_embedder):
    loaded = load_document(make_pptx(tmp_path / "bauantrag.pptx"))
    assert loaded.pages == 2 and loaded.doc.page_labels == {1: "Folie 1", 2: "Folie 2"}
    assert loaded.doc.text.count("Digitaler Bauantrag") == 1  # the title once, as the heading
    listing = next(b for b in loaded.doc.blocks if b.role == "list")
    assert listing.text == ("Der Antrag wird online gestellt:\n• Formular im Bürgerportal "
                            "ausfüllen\n• Pläne als PDF hochladen")
    assert listing.section == "Digitaler Bauantrag" and listing.page == 1
    table = next(b for b in loaded.doc.blocks if b.role == "table")
    assert table.page == 2 and "Regelverfahren – Gebühr: 1.200 Euro." in table.text
    assert any("1 Bild(er) übersprungen" in w for w in loaded.warnings)

    make_pptx(corpus_copy / "bauantrag.pptx")
    p = build_pipeline(make_settings(tmp_path, corpus_copy), embedder=fake_embedder)
    p.ingest(progress=False)
    a = p.ask("Was kostet das Regelverfahren beim Bauantrag?")
    assert not a.refused and "1.200 Euro" in a.text
    [c] = [c for c in a.citations if "1.200 Euro" in c.quote]  # the fee, quoted from its slide
    assert c.source.endswith("bauantrag.pptx") and c.page == 2 and c.place() == ", Folie 2"


def make_odt(path: Path) -> Path:
    from odf import dc, office, table, text
    from odf.opendocument import OpenDocumentText

    doc = OpenDocumentText()
    doc.meta.addElement(dc.Title(text="Satzung über die Hundesteuer"))
    doc.text.addElement(text.H(outlinelevel=1, text="Hundesteuersatzung der Stadt Musterstadt"))
    doc.text.addElement(text.H(outlinelevel=2, text="§ 4 Steuersatz"))
    doc.text.addElement(text.P(text="Die Steuer beträgt im Jahr:"))
    items = text.List()
    for line in ("für den ersten Hund 120 Euro,", "für jeden weiteren Hund 180 Euro."):
        li = text.ListItem()
        li.addElement(text.P(text=line))
        items.addElement(li)
    doc.text.addElement(items)
    p = text.P(text="Die Steuer wird jährlich erhoben.")
    note = office.Annotation()
    note.addElement(text.P(text="KOMMENTARGEHEIM prüfen"))
    p.addElement(note)
    doc.text.addElement(p)
    changes = text.TrackedChanges()
    region = text.ChangedRegion(check_grammar=False)
    region.setAttrNS(text.TEXTNS, "id", "c1")
    deletion = text.Deletion()
    deletion.addElement(text.P(text="GEHEIMALT gestrichen"))
    region.addElement(deletion)
    changes.addElement(region)
    doc.text.addElement(changes)
    doc.text.addElement(text.H(outlinelevel=2, text="§ 5 Ermäßigungen"))
    t = table.Table(name="Ermäßigungen")
    for row in (("Fall", "Ermäßigung"), ("Blindenführhund", "100 %"), ("Wachhund", "50 %")):
        tr = table.TableRow()
        for value in row:
            tc = table.TableCell()
            tc.addElement(text.P(text=value))
            tr.addElement(tc)
        t.addElement(tr)
    doc.text.addElement(t)
    doc.save(str(path))
    return path


def make_ods(path: Path) -> Path:
    from odf import table, text
    from odf.opendocument import OpenDocumentSpreadsheet

    doc = OpenDocumentSpreadsheet()
    for name, rows in (("Parken", [("Zone", "Euro je Stunde"), ("Innenstadt", "2,50")]),
                       ("Leer", []),
                       ("Märkte", [("Markt", "Standgeld"), ("Wochenmarkt", "12")])):
        sheet = table.Table(name=name)
        for row in rows:
            tr = table.TableRow()
            for value in row:
                tc = table.TableCell()
                tc.addElement(text.P(text=value))
                tr.addElement(tc)
            empty = table.TableCell(numbercolumnsrepeated=1020)  # as LibreOffice writes a sheet
            tr.addElement(empty)
            sheet.addElement(tr)
        doc.spreadsheet.addElement(sheet)
    doc.save(str(path))
    return path


def test_an_ods_gives_one_page_per_sheet_without_its_empty_edge(tmp_path):
    loaded = load_document(make_ods(tmp_path / "entgelte.ods"))
    tables = [b for b in loaded.doc.blocks if b.role == "table"]
    assert loaded.pages == 2 and [t.section for t in tables] == ["Parken", "Märkte"]
    assert tables[0].text.splitlines() == ["Zone | Euro je Stunde",
                                           "Innenstadt – Euro je Stunde: 2,50."]


TEXT_DOCUMENTS = {
    "docx": (make_docx, "Dienstanweisung BAU-DA-3/2025",
             "Bei einer Abwesenheit von mehr als drei Arbeitstagen gilt:\n"
             "• Frau Dr. Petersen vertritt die Sachbearbeitung.\n"
             "• Herr Okafor zeichnet die Eingangsbestätigungen.",
             "Dienstanweisung Vertretung im Bauordnungsamt › Vertretung bei Abwesenheit",
             ["Amt | Zuständigkeit | Telefon",
              "Bauordnungsamt – Zuständigkeit: Baugenehmigungen, Telefon: 0421 361-100.",
              "Ordnungsamt – Zuständigkeit: Sondernutzungen, Telefon: 0421 361-200."],
             "› Zuständigkeiten", "Die Übergabe erfolgt schriftlich."),
    "odt": (make_odt, "Satzung über die Hundesteuer",
            "Die Steuer beträgt im Jahr:\n• für den ersten Hund 120 Euro,\n"
            "• für jeden weiteren Hund 180 Euro.",
            "Hundesteuersatzung der Stadt Musterstadt › § 4 Steuersatz",
            ["Fall | Ermäßigung", "Blindenführhund – Ermäßigung: 100 %.",
             "Wachhund – Ermäßigung: 50 %."],
            "› § 5 Ermäßigungen", "Die Steuer wird jährlich erhoben."),
}


@pytest.mark.parametrize("kind", TEXT_DOCUMENTS)
def test_a_text_document_keeps_headings_lists_and_tables_without_comments_or_changes(tmp_path,
                                                                                      kind):
    make, title, listed, section, rows, table_section, kept = TEXT_DOCUMENTS[kind]
    doc = load_document(make(tmp_path / f"dokument.{kind}")).doc
    assert doc.title == title
    listing = next(b for b in doc.blocks if b.role == "list")
    assert listing.text == listed and listing.section == section
    table = next(b for b in doc.blocks if b.role == "table")
    assert table.text.splitlines() == rows and table.section.endswith(table_section)
    assert kept in doc.text  # the paragraph that carried the tracked deletion or the comment
    assert "GEHEIMALT" not in doc.text and "KOMMENTARGEHEIM" not in doc.text


def test_a_folder_of_four_office_files_is_ingested_and_asked_through_the_cli(tmp_path):
    """The user's path: `ingest` a folder with a .docx, an .odt, a .pptx and an .xlsx, then
    `ask --json`; a sheet's row is answered with its header and cited by its sheet."""
    import json
    import subprocess
    import sys

    folder = tmp_path / "ablage"
    folder.mkdir()
    make_docx(folder / "dienstanweisung.docx")
    make_odt(folder / "hundesteuer.odt")
    make_pptx(folder / "bauantrag.pptx")
    make_xlsx(folder / "gebuehren.xlsx")
    index = str(tmp_path / "index")
    run = subprocess.run([sys.executable, "-m", "assistant", "ingest", str(folder), "--index", index],
                         capture_output=True, text=True, timeout=300, check=True)
    assert "Dokumente: 4 ·" in run.stderr

    def ask(question: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "assistant", "ask", "--json", "--index", index,
                              question], capture_output=True, text=True, timeout=300, check=True)
        return json.loads(out.stdout)

    fee = ask("Wie hoch ist die Gebühr für einen Reisepass?")
    assert not fee["refused"] and "70" in fee["answer"]
    [sheet] = [c for c in fee["citations"] if c["source"].endswith("gebuehren.xlsx")]
    assert "Reisepass – Gebühr (Euro): 70, Rechtsgrundlage: PassV." in sheet["quote"]
    assert sheet["page"] == 1 and sheet["page_label"] == "Blatt „Gebühren 2024“"
    assert sheet["section"] == "Gebühren 2024" and sheet["title"] == "Gebühren 2024"
    slide = ask("Was kostet das Regelverfahren beim Bauantrag?")
    [c] = [c for c in slide["citations"] if c["source"].endswith("bauantrag.pptx")]
    assert c["page"] == 2 and c["page_label"] == "Folie 2" and c["section"] == "Gebühren"
    dog = ask("Wie hoch ist die Steuer für den ersten Hund?")
    [c] = [c for c in dog["citations"] if c["source"].endswith("hundesteuer.odt")]
    # a chunk carries the section of its first block: here the document's top heading
    assert c["page"] is None and "120 Euro" in c["quote"]
    assert c["section"].startswith("Hundesteuersatzung der Stadt Musterstadt")
