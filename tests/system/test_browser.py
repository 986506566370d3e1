"""The Gradio UI in a real browser: Debian's chromium driven by Playwright for Python, against a
live server on 127.0.0.1. A new user's path: type the sample question, get a cited answer with
its source passage; a document with `<script>` shows it as text; a PDF upload can be asked about,
and its page is shown with the quote marked over the quoted words; a refusal's note is plain text.

Every request the page makes must stay on the server: no fonts, scripts or telemetry from outside.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from fpdf import FPDF
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.conftest import make_pdf
from tests.live import live_server
from tests.serve.test_api import NAMES, QUESTION
from tests.system.browser import app_page, launched  # skips the module without chromium

SCRIPT_DOC = ("Sicherheitshinweis der Gemeinde Beispielstadt\n\n"
              "Die Gemeinde Beispielstadt warnt im Bürgerportal vor dem Schadcode "
              "<script>alert('xss')</script> und vor Bildern wie ![x](http://example.invalid/x.png) "
              "in Formularfeldern.\n")
BUERGERBUERO = ("Das Bürgerbüro der Stadt Musterstadt wurde am 3. März 2021 im umgebauten Erdgeschoss "
                "des alten Rathauses am Marktplatz eröffnet.")  # two lines on the page
SEED_URL = "https://www.vir-nordwest.de/projekte/erprobungsraum/erprobungsraeume-und-modellkommunen-12933"


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    yield from live_server(tmp_path_factory.mktemp("browser"), real_pipeline.embedder,
                           {"sicherheitshinweis.txt": SCRIPT_DOC})


@pytest.fixture(scope="module")
def browser():
    yield from launched()


@pytest.fixture
def page(browser: Browser, live):
    """A fresh page on the app; after the test: no request left the server, no dialog opened."""
    with app_page(browser, live.url) as p:
        yield p


def char_centres(pdf: Path, page: int, words: str) -> list[tuple[float, float]]:
    """Centres of the characters of `words` on a page, by pdfium's own search and boxes."""
    doc = pdfium.PdfDocument(str(pdf))
    try:
        tp = doc[page - 1].get_textpage()
        at, count = tp.search(words, match_case=True).get_next()
        boxes = [tp.get_charbox(i) for i in range(at, at + count)]
        return [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in boxes if x1 > x0]
    finally:
        doc.close()


def inside(boxes: list[list[float]], point: tuple[float, float]) -> bool:
    return any(x0 <= point[0] <= x1 and y0 <= point[1] <= y1 for x0, y0, x1, y1 in boxes)


def yellow(img: Image.Image) -> float:
    """Share of the pixels that are the highlight's yellow (the paper under the mark)."""
    px = list(img.get_flattened_data())
    return sum(1 for r, g, b in px if r > 230 and 190 < g < 245 and b < 120) / len(px)


def ask(page: Page, question: str) -> None:
    """Type a question, send it, and wait until the answer's sources are shown."""
    page.locator("#frage textarea").fill(question)
    page.locator("#senden").click()
    expect(page.locator("#quellen .quelle").first).to_be_visible(timeout=30_000)


def test_the_sample_question_gets_a_cited_answer_with_its_source(page: Page, tmp_path_factory):
    ask(page, QUESTION)
    answer = page.locator("#chat .message").last
    for name in NAMES:
        expect(answer).to_contain_text(name)
    expect(answer).to_contain_text("Quellen: [1] Kooperation der Erprobungsräume")
    mark = page.locator("#quellen mark").first
    expect(mark).to_be_visible()
    expect(mark).to_contain_text("Aus dem Rheinland nahm Herr Kahlen teil")
    expect(page.locator("#quellen a").first).to_have_attribute("href", SEED_URL)
    shot = tmp_path_factory.getbasetemp() / "ui-beispielfrage.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"Bildschirmfoto: {shot}")


def test_a_script_in_a_document_is_shown_as_text(page: Page, tmp_path_factory):
    ask(page, "Wovor warnt die Gemeinde Beispielstadt im Bürgerportal?")
    expect(page.locator("#chat")).to_contain_text("<script>alert('xss')</script>")
    expect(page.locator("#quellen")).to_contain_text("<script>alert('xss')</script>")
    expect(page.locator("#chat")).to_contain_text("![x](http://example.invalid/x.png)")
    assert page.locator("#chat script, #quellen script, #chat img, #quellen img").count() == 0
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-skript.png"), full_page=True)


def test_an_uploaded_pdf_can_be_asked_about_and_shows_the_quote_marked_on_its_page(
        page: Page, live, tmp_path, tmp_path_factory):
    pdf = make_pdf(tmp_path / "bericht-musterstadt.pdf", [
        "Jahresbericht der Stadt Musterstadt. Er fasst die Arbeit der Verwaltung zusammen.",
        "Im Jahr 2021 zog die Verwaltung um. " + BUERGERBUERO + " Die Kantine bleibt geschlossen."])
    page.get_by_text("Dokumente und Index").click()
    page.locator("#hochladen input[type=file]").set_input_files(str(pdf))
    expect(page.locator("#meldung")).to_contain_text("eingelesen", timeout=60_000)
    expect(page.locator("#index-status")).to_contain_text("bericht-musterstadt.pdf")
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-hochladen.png"), full_page=True)

    ask(page, "Wann wurde das Bürgerbüro in Musterstadt eröffnet?")
    expect(page.locator("#chat .message").last).to_contain_text("3. März 2021")
    link = page.locator("#quellen .kopf a").first
    expect(link).to_contain_text("S. 2")
    href = link.get_attribute("href")
    assert href == "/api/documents/bericht-musterstadt.pdf/file#page=2"
    served = page.request.get(live.url + href.split("#")[0])
    assert served.ok and served.headers["content-type"] == "application/pdf"
    assert served.body() == pdf.read_bytes()

    # the cited page, with the quote marked, is shown, and a click on it opens the PDF there
    shown = page.locator("#quellen .seite img").first
    expect(shown).to_be_visible()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=shown.element_handle())
    assert page.locator("#quellen a.seite").first.get_attribute("href") == href
    src = shown.get_attribute("src")
    assert src.startswith("/api/documents/bericht-musterstadt.pdf/pages/2.png?quote=")
    where = page.request.get(live.url + src.replace("/2.png?", "/2.json?")).json()
    (marked,) = where["pages"]
    assert where["found"] and marked["page"] == 2 and len(marked["boxes"]) == 2, "two lines"
    for words in ("Das Bürgerbüro", "3. März 2021", "Marktplatz eröffnet."):  # pdfium's own boxes
        assert all(inside(marked["boxes"], c) for c in char_centres(pdf, 2, words)), words
    for words in ("Im Jahr 2021", "Die Kantine"):
        assert not any(inside(marked["boxes"], c) for c in char_centres(pdf, 2, words)), words
    # ... and the mark is what the browser shows: yellow over the words, in view of the panel
    png = Image.open(io.BytesIO(page.request.get(live.url + src).body())).convert("RGB")
    assert shown.evaluate("i => i.naturalWidth") == png.width == marked["image"]["size"][0]
    for x0, y0, x1, y1 in marked["image"]["boxes"]:
        assert yellow(png.crop((x0 + 3, y0 + 3, x1 - 3, y1 - 3))) > 0.5
    assert yellow(Image.open(io.BytesIO(shown.screenshot())).convert("RGB")) > 0.01
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-pdf-seite.png"), full_page=True)


def test_a_quote_across_a_page_break_is_marked_on_both_pages(page: Page, live, tmp_path, request):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Bericht über den Umbau in Musterstadt. Die Verwaltung plante lange.")
    pdf.set_y(262)  # the last line of page 1 ...
    pdf.cell(0, 6, "Im Herbst 2022 begann die Stadt Musterstadt mit dem Umbau des alten")
    pdf.add_page()  # ... and the sentence goes on at the top of page 2
    pdf.cell(0, 6, "Rathauses am Marktplatz, der bis zum Sommer 2024 dauern soll. Danach folgt der Park.")
    path = tmp_path / "umbau-musterstadt.pdf"
    pdf.output(str(path))
    doc_id, _ = live.service.add_document(path.name, path.read_bytes())
    request.addfinalizer(lambda: live.service.delete_document(doc_id))

    ask(page, "Wann begann der Umbau des Rathauses in Musterstadt?")
    expect(page.locator("#chat .message").last).to_contain_text("Im Herbst 2022")
    shown = page.locator("#quellen .seite img")
    expect(shown).to_have_count(2)
    srcs = [i.get_attribute("src") for i in shown.all()]
    assert [s.split("?")[0].rsplit("/", 1)[1] for s in srcs] == ["1.png", "2.png"]
    where = page.request.get(live.url + srcs[0].replace("/1.png?", "/1.json?")).json()
    one, two = where["pages"]
    assert all(inside(one["boxes"], c) for c in char_centres(path, 1, "Im Herbst 2022 begann"))
    assert all(inside(two["boxes"], c) for c in char_centres(path, 2, "dauern soll."))
    assert not any(inside(one["boxes"], c) for c in char_centres(path, 1, "plante lange."))
    assert not any(inside(two["boxes"], c) for c in char_centres(path, 2, "Danach folgt"))
    for img, src in zip(shown.all(), srcs, strict=True):
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        assert yellow(Image.open(io.BytesIO(img.screenshot())).convert("RGB")) > 0.005, src


def test_a_refusal_says_so_in_plain_text_and_marks_none_of_its_passages(page: Page):
    ask(page, "Wie hoch ist die Hundesteuer in Gütersloh?")
    answer = page.locator("#chat .message").last
    expect(answer).to_contain_text("keine Angaben")
    expect(answer).to_contain_text("Die nächstliegenden Passagen stehen rechts unter „Quellen“.")
    assert "*" not in answer.inner_text(), "no literal Markdown"
    expect(page.locator("#quellen")).to_contain_text("Am nächsten kamen")
    assert page.locator("#quellen .quelle").count() >= 1
    assert page.locator("#quellen mark, #quellen img").count() == 0


def test_thumbs_up_is_written_to_the_feedback_file(page: Page, live):
    ask(page, QUESTION)
    before = live.service.feedback_path.read_text().count("\n") if live.service.feedback_path.exists() else 0
    page.locator("#chat").get_by_role("button", name="Gefällt mir", exact=True).last.click()
    expect(page.get_by_text("Danke für Ihre Rückmeldung.")).to_be_visible(timeout=10_000)
    lines = live.service.feedback_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == before + 1
    item = json.loads(lines[-1])
    assert item["id"].startswith("fb-up-") and item["question"] == QUESTION
    assert "Kahlen" in item["quote"]
