"""The quote on its PDF page (assistant/serve/highlight.py), on PDFs the tests make: the boxes lie over
the quoted words and not over their neighbours, across a line break, a word hyphenated at the
line end and a page break, and over the cells of a quoted table row; a quote that is not on the
page gets no box; the PNG shows the mark.

The words' positions come from pdfium's own text search and character boxes, not from the
module under test.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from fpdf import FPDF
from PIL import Image

from assistant.read.pdf import read_pdf
from assistant.serve import highlight
from assistant.text.sentences import sentence_spans

INTRO = ("Jahresbericht der Stadt Musterstadt. Er fasst die Arbeit der Verwaltung zusammen. "
         "Das Bürgerbüro der Stadt Musterstadt wurde am 3. März 2021 eröffnet und hat seitdem an "
         "sechs Tagen der Woche geöffnet, auch samstags. Die Kantine bleibt geschlossen.")
HYPHENATED = ["Die Digitalisierung der Verwal-", "tung kam im Jahr 2022 gut voran, weil die E-Government-",
              "Lösungen der Stadt eingeführt wurden. Danach ruhte das Projekt."]
ACROSS = ("Im letzten Abschnitt des Jahres begann die Stadt Musterstadt mit dem Umbau",
          "des Rathauses, der bis 2024 dauern soll. Danach folgt der Stadtpark.")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """Page 1: a wrapped paragraph, three lines with a hyphenated word, and a sentence that runs
    onto page 2 (which also has a page number at its foot)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, INTRO)
    pdf.ln(4)
    for line in HYPHENATED:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(265)
    pdf.cell(0, 6, ACROSS[0], new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.cell(0, 6, ACROSS[1], new_x="LMARGIN", new_y="NEXT")
    path = tmp_path_factory.mktemp("highlight") / "bericht.pdf"
    pdf.output(str(path))
    return path


def reader_sentence(path: Path, starts: str) -> tuple[int, str]:
    """A sentence as our reader gives it (dehyphenated, lines joined), with its page: what a
    citation quotes."""
    for block in read_pdf(path).blocks:
        for a, b in sentence_spans(block.text):
            if block.text[a:b].startswith(starts):
                return block.page_at(a), block.text[a:b].strip()
    raise AssertionError(f"Satz fehlt: {starts}")


def word_centres(path: Path, page: int, words: str) -> list[tuple[float, float]]:
    """Centres of the characters of `words` on the page, found by pdfium's own search."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        tp = pdf[page - 1].get_textpage()
        found = tp.search(words, match_case=True).get_next()
        assert found, f"„{words}“ steht nicht auf Seite {page}"
        at, count = found
        boxes = [tp.get_charbox(i) for i in range(at, at + count)]
        return [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in boxes if x1 > x0]
    finally:
        pdf.close()


def covered(boxes, point: tuple[float, float]) -> bool:
    x, y = point
    return any(b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1 for b in boxes)


def assert_marks(path: Path, page: int, boxes, inside: list[str], outside: list[str]) -> None:
    for words in inside:
        points = word_centres(path, page, words)
        assert points and all(covered(boxes, p) for p in points), f"„{words}“ nicht markiert"
    for words in outside:
        assert not any(covered(boxes, p) for p in word_centres(path, page, words)), \
            f"„{words}“ markiert, gehört aber nicht zum Zitat"


def test_a_quote_across_a_line_break_is_marked_over_its_words_only(report):
    page, quote = reader_sentence(report, "Das Bürgerbüro")
    assert page == 1 and "\n" not in quote
    found = highlight.locate(report, page, quote)
    assert set(found) == {1}
    boxes = found[1]
    assert len(boxes) == 3, "one box per line the sentence covers"
    assert_marks(report, 1, boxes, inside=["Das Bürgerbüro", "3. März 2021", "auch samstags."],
                 outside=["Er fasst", "zusammen.", "Die Kantine"])


def test_a_dehyphenated_quote_is_found_and_marks_the_hyphenated_word(report):
    page, quote = reader_sentence(report, "Die Digitalisierung")
    assert "Verwaltung" in quote and "Verwal-" not in quote and "E-Government-Lösungen" in quote
    boxes = highlight.locate(report, page, quote)[1]
    assert len(boxes) == 3
    assert_marks(report, 1, boxes, inside=["Digitalisierung der Verwal", "tung kam", "E-Government",
                                           "Lösungen", "eingeführt wurden."],
                 outside=["Danach ruhte", "geschlossen."])


def test_a_quote_across_a_page_break_is_marked_on_both_pages(report):
    page, quote = reader_sentence(report, "Im letzten Abschnitt")
    assert page == 1 and "Rathauses" in quote
    found = highlight.locate(report, 1, quote)
    assert set(found) == {1, 2}
    assert_marks(report, 1, found[1], inside=["Im letzten Abschnitt", "mit dem Umbau"], outside=[])
    assert_marks(report, 2, found[2], inside=["des Rathauses", "dauern soll."],
                 outside=["Danach folgt"])
    assert highlight.locate(report, 2, quote) == found, "asked for the next page: the same boxes"


@pytest.mark.parametrize("quote", [
    "Das Rathaus wurde im Jahr 1990 abgerissen.",  # not in the document
    "Die Kantine bleibt geöffnet.",  # close to a sentence, but not it
    "Danach folgt der Stadtpark.",  # on page 2, not on page 1 or next to its end
    "Stadt",  # too short to say where
    "",
])
def test_a_quote_that_is_not_on_the_page_gets_no_box(report, quote):
    assert highlight.locate(report, 1, quote) is None
    assert highlight.located(report, 1, quote) == {"page": 1, "found": False, "pages": []}


TABLE = [("Bundesland", "Punkte 2025", "Punkte 2024", "Veränderung"), ("Berlin", "49", "45", "+4"),
         ("Bayern", "36", "35", "+1"), ("Sachsen", "35", "33", "+2"), ("Bremen", "15", "9", "+6")]


@pytest.fixture(scope="module")
def ranking(tmp_path_factory) -> Path:
    """A sentence, then a table whose values repeat across rows ("35" twice, in two columns)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Die Tabelle zeigt die Punkte der Länder im Vergleich zum Vorjahr.")
    pdf.ln(4)
    for i, row in enumerate(TABLE):
        pdf.set_font("Helvetica", "B" if i == 0 else "", 11)
        for cell in row:
            pdf.cell(45, 7, cell, new_x="RIGHT", new_y="TOP")
        pdf.ln(7)
    path = tmp_path_factory.mktemp("tabelle") / "ranking.pdf"
    pdf.output(str(path))
    return path


def marked_text(path: Path, page: int, boxes) -> str:
    """The page's characters (by pdfium) whose centre lies in a box, in page order."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        tp = pdf[page - 1].get_textpage()
        out = []
        for i in range(tp.count_chars()):
            ch = tp.get_text_range(i, 1)
            x0, y0, x1, y1 = tp.get_charbox(i)
            if ch.strip() and covered(boxes, ((x0 + x1) / 2, (y0 + y1) / 2)):
                out.append(ch)
        return "".join(out)
    finally:
        pdf.close()


def test_a_table_row_is_marked_cell_by_cell_in_its_own_row(ranking):
    rows = next(b for b in read_pdf(ranking).blocks if b.role == "table").text.splitlines()
    sachsen = next(r for r in rows if r.startswith("Sachsen"))
    assert sachsen == "Sachsen – Punkte 2025: 35, Punkte 2024: 33, Veränderung: +2."  # the reader's row
    boxes = highlight.locate(ranking, 1, sachsen)[1]
    assert len(boxes) == 4 and marked_text(ranking, 1, boxes) == "Sachsen3533+2"
    header = highlight.locate(ranking, 1, rows[0])[1]
    assert marked_text(ranking, 1, header) == "BundeslandPunkte2025Punkte2024Veränderung"


@pytest.mark.parametrize("row", [
    "Sachsen – Punkte 2025: 36, Punkte 2024: 33, Veränderung: +2.",  # 36 is Bayern's
    "Thüringen – Punkte 2025: 35, Punkte 2024: 33, Veränderung: +2.",  # no such row
    "Sachsen – Punkte 2025: 33, Punkte 2024: 35, Veränderung: +2.",  # values swapped
])
def test_a_table_row_that_is_not_on_the_page_gets_no_box(ranking, row):
    assert highlight.locate(ranking, 1, row) is None


def test_quoted_marks_and_case_do_not_matter_but_words_do():
    assert highlight.fold("„Bürger-\nbüro“ ﬁnden, STRASSE!")[0] == "bürgerbürofindenstrasse"
    assert highlight.fold("Straße")[0] == highlight.fold("STRASSE")[0]
    key, index = highlight.fold("a ﬁ")
    assert key == "afi" and index == [0, 2, 2]


def yellow(img: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Share of the pixels in `box` that are the highlight's yellow (paper under the mark)."""
    px = list(img.crop(box).get_flattened_data())
    return sum(1 for r, g, b in px if r > 230 and 190 < g < 245 and b < 120) / len(px)


def test_the_png_shows_the_mark_over_the_quote_and_nowhere_else(report):
    page, quote = reader_sentence(report, "Die Digitalisierung")
    img = Image.open(io.BytesIO(highlight.render_png(report, page, quote))).convert("RGB")
    (shown,) = highlight.located(report, page, quote)["pages"]
    assert list(img.size) == shown["image"]["size"] and abs(img.width - highlight.WIDTH) <= 1
    assert len(shown["image"]["boxes"]) == len(shown["boxes"]) == 3
    for (_, y0, _, y1), (px0, py0, px1, py1) in zip(shown["boxes"], shown["image"]["boxes"], strict=True):
        assert px1 - px0 > 100 and py1 > py0 and (y0 + y1) / 2 / shown["height"] > 0.5  # top half
        assert yellow(img, (px0 + 3, py0 + 3, px1 - 3, py1 - 3)) > 0.5
    top = min(b[1] for b in shown["image"]["boxes"])
    assert yellow(img, (0, 0, img.width, top - 3)) == 0, "the paragraph above is not marked"
    plain = Image.open(io.BytesIO(highlight.render_png(report, page, "Nicht im Dokument."))).convert("RGB")
    assert yellow(plain, (0, 0, plain.width, plain.height)) == 0


def test_pages_are_cached_per_file_version(tmp_path):
    path = tmp_path / "seite.pdf"
    versions = (("Die erste Fassung des Berichts.", 1_000_000_000), ("Die zweite Fassung.", 2_000_000_000))
    for text, stamp in versions:
        pdf = FPDF()
        pdf.set_font("Helvetica", size=12)
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
        pdf.output(str(path))
        os.utime(path, ns=(stamp, stamp))
        png = highlight.render_png(path, 1, text)
        assert highlight.render_png(path, 1, text) is png, "the second request is the cached image"
        assert highlight.locate(path, 1, text) is not None
    assert highlight.locate(path, 1, "Die erste Fassung des Berichts.") is None, "the old text is gone"


def test_a_page_waits_while_the_reader_uses_pdfium(tmp_path):
    """pdfium is not thread-safe: a page image is not drawn while a PDF is being read."""
    import threading
    import time

    from assistant.read.pdf import PDFIUM

    path = tmp_path / "warten.pdf"
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Die Stadt Musterstadt arbeitet digital.")
    pdf.output(str(path))
    got: list = []
    drawing = threading.Thread(target=lambda: got.append(
        highlight.render_png(path, 1, "Die Stadt Musterstadt arbeitet digital.")))
    with PDFIUM:  # as read_pdf holds it for an upload
        drawing.start()
        time.sleep(0.3)
        assert drawing.is_alive() and got == [], "drawn while the reader held pdfium"
    drawing.join(timeout=30)
    assert got and got[0].startswith(b"\x89PNG")


def test_rotated_text_gets_no_box_rather_than_a_slanted_one(tmp_path):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.text(20, 30, "Die Verwaltung der Stadt Musterstadt arbeitet digital.")
    with pdf.rotation(30, x=60, y=150):
        pdf.text(60, 150, "Erweitertes Team mit externen Fachleuten")
    path = tmp_path / "schraeg.pdf"
    pdf.output(str(path))
    assert highlight.locate(path, 1, "Die Verwaltung der Stadt Musterstadt arbeitet digital.")
    assert highlight.locate(path, 1, "Erweitertes Team mit externen Fachleuten") is None
