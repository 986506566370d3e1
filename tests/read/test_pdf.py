"""PDF reading on PDFs the tests make themselves: pages, labels, running headers, tables of
contents, dehyphenation, ligatures, scanned pages, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from assistant.read import ocr
from assistant.read.corpus import DocumentError, load_document
from assistant.read.pdf import PdfError, read_pdf

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BODY = ("Die Verwaltung der Stadt Gütersloh hat im Projekt Modellkommune E-Government mehrere "
        "Verfahren digitalisiert. Dazu gehören der Antrag auf Wohngeld und die Anmeldung eines "
        "Gewerbes. Die Mitarbeiterinnen und Mitarbeiter wurden in Schulungen vorbereitet.")


def _book(path: Path, pages: list[list[str]], header: str | None = None, font: Path | None = None,
          labels: bool = False) -> Path:
    """A PDF with one list of lines per page, each line placed as it is (no re-wrapping)."""
    pdf = FPDF()
    if font:
        pdf.add_font("Body", fname=str(font))
        pdf.set_font("Body", size=11)
    else:
        pdf.set_font("Helvetica", size=11)
    for number, lines in enumerate(pages, start=1):
        pdf.add_page()
        if header:
            pdf.cell(0, 8, f"{header} {number}", new_x="LMARGIN", new_y="NEXT")
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def _wrapped(text: str, width: int = 85) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if len(cur) + len(word) + 1 > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [*lines, cur]


def test_running_headers_are_removed_and_pages_kept(tmp_path: Path):
    towns = ["Halle", "Gütersloh", "Düren", "Norderstedt", "Ibbenbüren", "Cochem-Zell"]
    bodies = [f"Kapitel {i}: In {town} begann das Projekt im Jahr {2010 + i}. Die Verwaltung "
              f"von {town} digitalisierte den Antrag auf Wohngeld und die Anmeldung eines "
              f"Gewerbes. Dafür wurden in {town} {10 * i} Beschäftigte geschult."
              for i, town in enumerate(towns, start=1)]
    pages = [_wrapped(b) for b in bodies]
    f = _book(tmp_path / "bericht.pdf", pages, header="Projektbericht Modellkommunen - Seite")
    pdf = read_pdf(f)
    text = "\n".join(b.text for b in pdf.blocks)
    assert "Projektbericht Modellkommunen - Seite" not in text
    assert pdf.pages == 6
    for i, body in enumerate(bodies, start=1):
        (block,) = [b for b in pdf.blocks if b.page == i]
        assert block.text == body  # the whole body survives, only the header is gone


def test_lines_become_paragraphs_and_words_hyphenated_at_line_ends_are_rejoined(tmp_path: Path):
    lines = [
        "Die Verwal-",
        "tung der Stadt Düren hat die E-Government-",
        "Lösungen der Modellkommunen übernommen, die Ein- und Ausgabe der Daten",
        "ist nun digital. Mitarbeiterinnen und Mitarbeiter wurden geschult, und die Bürger-",
        "innen und Bürger können Anträge online stellen, auch am Wochenende und abends.",
        "Kurze Zeile.",
    ]
    pdf = read_pdf(_book(tmp_path / "umbruch.pdf", [lines, _wrapped(BODY)]))
    text = pdf.blocks[0].text
    assert text.startswith("Die Verwaltung der Stadt Düren hat die E-Government-Lösungen der")
    assert "die Ein- und Ausgabe der Daten ist nun digital." in text
    assert "die Bürgerinnen und Bürger" in text


@pytest.mark.skipif(not DEJAVU.is_file(), reason="DejaVu-Schrift fehlt (fonts-dejavu-core): "
                    "ohne sie lassen sich keine Ligaturen ins Test-PDF setzen")
def test_ligatures_are_folded(tmp_path: Path):
    lines = ["Die O\ufb03ce-Software ist o\ufb00en und \ufb02exibel, die Au\ufb02age ist \ufb01nal."]
    pdf = read_pdf(_book(tmp_path / "lig.pdf", [lines], font=DEJAVU))
    assert pdf.blocks[0].text == "Die Office-Software ist offen und flexibel, die Auflage ist final."


def test_table_of_contents_pages_are_dropped(tmp_path: Path):
    toc = [f"{i} Kapitel über Thema {i} " + ". " * 30 + f"{i + 2}" for i in range(1, 12)]
    pages = [["Inhaltsverzeichnis", *toc]] + [_wrapped(f"Thema {i} im Text. " + BODY) for i in range(1, 4)]
    pdf = read_pdf(_book(tmp_path / "toc.pdf", pages))
    assert not any(". . . ." in b.text for b in pdf.blocks)
    assert all(b.page != 1 for b in pdf.blocks)
    assert any("Thema 2 im Text" in b.text and b.page == 3 for b in pdf.blocks)


def test_numbered_headings_become_sections_without_an_outline(tmp_path: Path):
    pages = [["3.2 Digitale Antragsverfahren", *_wrapped(BODY)], ["4 Ergebnisse", *_wrapped(BODY)]]
    doc = load_document(_book(tmp_path / "kap.pdf", pages)).doc
    headings = [b.text for b in doc.blocks if b.is_heading]
    assert headings == ["3.2 Digitale Antragsverfahren", "4 Ergebnisse"]
    body = next(b for b in doc.blocks if b.page == 2 and not b.is_heading)
    assert body.section == "4 Ergebnisse"


def test_page_labels_are_kept(tmp_path: Path):
    import pypdf

    f = _book(tmp_path / "roem.pdf", [_wrapped(BODY)] * 4)
    writer = pypdf.PdfWriter(clone_from=str(f))
    writer.set_page_label(0, 1, style="/r")
    writer.set_page_label(2, 3, style="/D", start=1)
    writer.write(str(f))
    pdf = read_pdf(f)
    assert pdf.labels == {1: "i", 2: "ii", 3: "1", 4: "2"}


def _scanned_page_pdf(path: Path) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=44)
    for i, line in enumerate(["Bescheid der Stadt Norderstedt", "Die Hundesteuer wird",
                              "jedes Jahr im Januar erhoben."]):
        draw.text((150, 200 + i * 90), line, fill=0, font=font)
    scan = path.parent / "scan.png"
    img.save(scan)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for line in _wrapped(BODY):
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.image(str(scan), x=0, y=0, w=210)
    pdf.output(str(path))
    return path


@pytest.mark.skipif(not ocr.available(), reason="Tesseract mit deutschem Modell fehlt "
                    "(apt-get install tesseract-ocr tesseract-ocr-deu)")
def test_scanned_page_is_read_by_ocr_and_marked(tmp_path: Path):
    pdf = read_pdf(_scanned_page_pdf(tmp_path / "scan.pdf"))
    assert pdf.ocr_pages == 1
    scanned = [b for b in pdf.blocks if b.page == 2]
    assert scanned and all(b.ocr for b in scanned)
    text = " ".join(b.text for b in scanned)
    assert "Bescheid der Stadt Norderstedt" in text
    assert "Hundesteuer" in text
    assert not any(b.ocr for b in pdf.blocks if b.page == 1)


def test_scanned_page_without_ocr_is_skipped_with_a_warning(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)  # as on a machine without Tesseract
    pdf = read_pdf(_scanned_page_pdf(tmp_path / "scan.pdf"))
    assert {b.page for b in pdf.blocks} == {1}  # the text page is kept
    assert pdf.ocr_pages == 0
    (warning,) = pdf.warnings
    assert "scan.pdf, S. 2" in warning and "tesseract-ocr-deu" in warning


def test_ocr_switched_off_skips_scans_silently(tmp_path: Path):
    pdf = read_pdf(_scanned_page_pdf(tmp_path / "scan.pdf"), use_ocr=False)
    assert {b.page for b in pdf.blocks} == {1}
    assert pdf.warnings == []


def test_encrypted_pdf_is_refused_with_a_message(tmp_path: Path):
    pdf = FPDF()
    pdf.set_encryption(owner_password="geheim", user_password="auch-geheim")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.cell(0, 6, "Vertraulich")
    f = tmp_path / "geheim.pdf"
    pdf.output(str(f))
    with pytest.raises(PdfError, match="verschlüsselt"):
        read_pdf(f)


def test_truncated_pdf_gives_a_message_naming_the_file(tmp_path: Path):
    good = _book(tmp_path / "ganz.pdf", [_wrapped(BODY)] * 3)
    cut = tmp_path / "abgeschnitten.pdf"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(DocumentError, match="abgeschnitten.pdf"):
        load_document(cut)


def test_html_and_zip_with_a_pdf_name_are_refused(tmp_path: Path):
    import zipfile

    html = tmp_path / "seite.pdf"
    html.write_text("<!doctype html><html><body>Hallo</body></html>", encoding="utf-8")
    archive = tmp_path / "archiv.pdf"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "Inhalt")
    for f in (html, archive):
        with pytest.raises(DocumentError, match="keine PDF-Datei"):
            load_document(f)
