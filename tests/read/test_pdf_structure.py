"""Structure-aware PDF reading on PDFs the tests lay out themselves: a list with its lead-in, a
table with its header row, a footnote, a double-page spread, small capitals, letter spacing and
a path across a line break. Each test fails when its case is read as flat text."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from assistant.read.corpus import load_document
from assistant.read.pdf import read_pdf

FONTS = Path("/usr/share/fonts/truetype/dejavu")
pytestmark = pytest.mark.skipif(not (FONTS / "DejaVuSans.ttf").is_file(),
                                reason="DejaVu-Schriften fehlen (apt-get install fonts-dejavu-core)")


def _pdf(orientation: str = "P", fmt: str | tuple = "A4") -> FPDF:
    pdf = FPDF(orientation=orientation, format=fmt, unit="pt")
    pdf.add_font("Body", fname=str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("Body", style="B", fname=str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    return pdf


def _text(pdf: FPDF, x: float, y: float, s: str, size: float = 11, style: str = "") -> None:
    pdf.set_font("Body", style=style, size=size)
    pdf.text(x, y, s)


def _prose(pdf: FPDF, x: float, y: float, lines: list[str], size: float = 11) -> float:
    for ln in lines:
        _text(pdf, x, y, ln, size)
        y += 1.35 * size
    return y


def _read(pdf: FPDF, path: Path):
    pdf.output(str(path))
    return read_pdf(path, use_ocr=False)


def test_a_list_keeps_its_lead_in(tmp_path: Path):
    pdf = _pdf()
    y = _prose(pdf, 60, 80, ["Der Bauantrag wird beim Bauordnungsamt eingereicht und dort in der",
                             "Reihenfolge des Eingangs bearbeitet."])
    y = _prose(pdf, 60, y + 14, ["Dem Antrag sind folgende Unterlagen beizufügen:"])
    y = _prose(pdf, 60, y, ["• der amtliche Lageplan,", "• die Bauzeichnungen und",
                            "• die Baubeschreibung."])
    _prose(pdf, 60, y + 14, ["Die Bearbeitung dauert in der Regel sechs Wochen ab Vollständigkeit."])
    blocks = _read(pdf, tmp_path / "liste.pdf").blocks
    (lst,) = [b for b in blocks if b.role == "list"]
    assert lst.text.splitlines() == ["Dem Antrag sind folgende Unterlagen beizufügen:",
                                     "• der amtliche Lageplan,", "• die Bauzeichnungen und",
                                     "• die Baubeschreibung."]
    assert not any("sechs Wochen" in b.text for b in blocks if b.role == "list")


def test_a_table_names_its_title_and_header_in_every_row(tmp_path: Path):
    pdf = _pdf()
    _prose(pdf, 60, 70, ["Die Länder im Vergleich"], size=14)
    rows = [("Land", "Punkte 2025", "Veränderung"), ("Berlin", "49", "+4"),
            ("Hamburg", "34", "="), ("Bremen", "15", "+6")]
    for i, row in enumerate(rows):
        for x, cell in zip((60, 220, 340), row, strict=True):
            _text(pdf, x, 110 + 16 * i, cell, style="B" if i == 0 else "")
    (table,) = [b for b in _read(pdf, tmp_path / "tabelle.pdf").blocks if b.role == "table"]
    lines = table.text.splitlines()
    assert lines[0] == "Die Länder im Vergleich: Land | Punkte 2025 | Veränderung"  # title, header
    assert "Berlin – Punkte 2025: 49, Veränderung: +4." in lines
    assert "Bremen – Punkte 2025: 15, Veränderung: +6." in lines


def test_a_value_repeated_in_its_row_is_kept_and_overprint_is_dropped(tmp_path: Path):
    """Two cells with the same text on one line are two values (2025 = 2024); the same text drawn
    twice on the same spot (fake bold, overprint) is one."""
    pdf = _pdf()
    _prose(pdf, 60, 70, ["Die Länder im Vergleich"], size=14)
    rows = [("Land", "Punkte 2025", "Punkte 2024", "Veränderung"), ("Berlin", "49", "45", "+4"),
            ("Hamburg", "34", "34", "="), ("Bremen", "15", "9", "+6")]
    for i, row in enumerate(rows):
        for x, cell in zip((60, 190, 320, 450), row, strict=True):
            _text(pdf, x, 110 + 16 * i, cell, style="B" if i == 0 else "")
    _text(pdf, 60, 200, "Stand: Juni 2025")
    _text(pdf, 60.2, 200, "Stand: Juni 2025")  # overprinted
    blocks = _read(pdf, tmp_path / "gleich.pdf").blocks
    (table,) = [b for b in blocks if b.role == "table"]
    assert "Hamburg – Punkte 2025: 34, Punkte 2024: 34, Veränderung: =." in table.text.splitlines()
    assert sum(b.text.count("Stand: Juni 2025") for b in blocks) == 1


def test_a_footnote_is_its_own_block(tmp_path: Path):
    pdf = _pdf()
    _prose(pdf, 60, 80, ["Die Schwellenwerte werden regelmäßig angepasst.1 Für Aufträge",
                         "darunter gilt das nationale Vergaberecht."])
    _text(pdf, 60, 790, "1 Vgl. Bundesministerium des Innern (Hrsg.), 2012, S. 30 ff.", size=7)
    blocks = _read(pdf, tmp_path / "fussnote.pdf").blocks
    (note,) = [b for b in blocks if b.role == "footnote"]
    assert note.text.startswith("1 Vgl. Bundesministerium des Innern")
    body = next(b for b in blocks if "Schwellenwerte" in b.text)
    assert body.role == "paragraph" and "Vgl." not in body.text


def test_a_double_page_spread_becomes_two_printed_pages(tmp_path: Path):
    pdf = _pdf("L", (595, 842))  # landscape A4: two A5 pages side by side
    _prose(pdf, 40, 80, ["Die linke Seite beschreibt die Vorbereitung des Projekts und",
                         "nennt die Beteiligten der ersten Phase."])
    _prose(pdf, 461, 80, ["Die rechte Seite beschreibt die Durchführung des Projekts und",
                          "nennt die Termine der zweiten Phase."])
    _text(pdf, 40, 570, "76", size=9)
    _text(pdf, 790, 570, "77", size=9)
    doc = _read(pdf, tmp_path / "doppelseite.pdf")
    assert [(b.label, b.text.split()[1]) for b in doc.blocks] == [("76", "linke"), ("77", "rechte")]
    assert all(b.page == 1 for b in doc.blocks)
    assert doc.labels[1] == "76–77"


def test_a_sentence_running_onto_the_next_labelled_page_stays_one_block(tmp_path: Path):
    # Printed page numbers that differ from the PDF's ("12" on its page 2) are labels too; a
    # paragraph cut by the page break had become two blocks ("... Organisationen" | "für die
    # Sicherheitsaktualisierungen ..."), and the second was quoted as a fragment.
    pdf = _pdf()
    pdf.set_page_label(label_style="D", label_start=11)
    _prose(pdf, 60, 740, ["Interessieren sich mehrere Personen oder Organisationen"])
    pdf.add_page()
    _prose(pdf, 60, 80, ["für dasselbe Paket, so werden die Kosten aufgeteilt.",
                         "Die Koordination übernimmt ein Dienstleister."])
    doc = _read(pdf, tmp_path / "seitenumbruch.pdf")
    assert doc.labels == {1: "11", 2: "12"}
    (para,) = [b for b in doc.blocks if "Kosten" in b.text]
    assert para.text.startswith("Interessieren sich mehrere Personen oder Organisationen für")
    assert para.page == 1 and para.label == "11" and para.page_starts[0][1] == 2


def test_small_capitals_and_letter_spacing_become_normal_words(tmp_path: Path):
    pdf = _pdf()
    pdf.set_font("Body", size=18)
    pdf.set_xy(60, 60)
    pdf.cell(pdf.get_string_width("Ö"), 20, "Ö")
    pdf.set_font("Body", size=13)
    pdf.cell(pdf.get_string_width("FFENTLICHES "), 20, "FFENTLICHES ")
    pdf.set_font("Body", size=18)
    pdf.cell(pdf.get_string_width("G"), 20, "G")
    pdf.set_font("Body", size=13)
    pdf.cell(pdf.get_string_width("ESTALTEN"), 20, "ESTALTEN")
    pdf.set_font("Body", size=16)
    pdf.set_char_spacing(6)
    pdf.text(60, 130, "Erkunden")
    pdf.set_char_spacing(0)
    _prose(pdf, 60, 170, ["Wer erkunden will, stellt zuerst die richtigen Fragen an das Problem."])
    text = "\n".join(b.text for b in _read(pdf, tmp_path / "kapitaelchen.pdf").blocks)
    assert "Öffentliches Gestalten" in text
    assert "Erkunden" in text.split("\n")


def test_a_path_across_a_line_break_is_not_dehyphenated(tmp_path: Path):
    """A path broken after a separator loses the typesetter's hyphen ("/skole/-" + "backup/",
    as in the Debian Edu handbook); a hyphen inside a host name stays; words are rejoined."""
    pdf = _pdf()
    _prose(pdf, 60, 80, ["Die nächtliche Sicherung des Hauptservers liegt im Verzeichnis /skole/-",
                         "backup/ und wird dreißig Tage aufbewahrt. Die Adresse www.musterstadt-",
                         "online.de/service nennt die Ansprechpartner für die Verwal-",
                         "tung der Sicherungen."])
    text = _read(pdf, tmp_path / "pfad.pdf").blocks[0].text
    assert "/skole/backup/ und wird" in text
    assert "www.musterstadt-online.de/service" in text
    assert "für die Verwaltung der Sicherungen" in text


def test_a_path_ending_at_a_line_end_is_followed_by_a_space_where_the_text_goes_on(
        tmp_path: Path):
    """A path that ends at a line end was glued to the next word ("/var/cache/apt/archives/von
    den restlichen Partitionen", "/etc/cron.daily/apt.Dort finden", in the Debian
    Paketmanagement book); a path whose next segment is on the next line stays whole."""
    pdf = _pdf()
    _prose(pdf, 60, 80, ["Trennen Sie den Paketcache unter /var/cache/apt/archives/",
                         "von den restlichen Partitionen. Der Zeitplan steht in /etc/cron.daily/apt.",
                         "Dort finden Sie auch den Aufruf. Die Vorlage liegt in /usr/share/doc/",
                         "apt/examples/ und die Paare Angebote/",
                         "Maßnahmen bleiben zusammen."])
    text = _read(pdf, tmp_path / "pfad2.pdf").blocks[0].text
    assert "/var/cache/apt/archives/ von den restlichen" in text
    assert "/etc/cron.daily/apt. Dort finden" in text
    assert "/usr/share/doc/apt/examples/ und" in text
    assert "Angebote/Maßnahmen bleiben" in text


def test_pdf_blocks_carry_their_heading_path(tmp_path: Path):
    pdf = _pdf()
    _prose(pdf, 60, 70, ["6 Durchführung"], size=20)
    _prose(pdf, 60, 110, ["Die Durchführung beginnt mit einem gemeinsamen Termin aller Beteiligten."])
    _prose(pdf, 60, 150, ["6.1 Kick-off"], size=15)
    _prose(pdf, 60, 180, ["Der Kick-off klärt Ziele, Rollen und die Termine der nächsten Wochen."])
    path = tmp_path / "pfade.pdf"
    pdf.output(str(path))
    doc = load_document(path).doc
    body = next(b for b in doc.blocks if b.text.startswith("Der Kick-off"))
    assert body.section == "6 Durchführung › 6.1 Kick-off"
