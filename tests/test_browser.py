"""The Gradio UI in a real browser: Debian's chromium driven by Playwright for Python, against a
live server on 127.0.0.1. A new user's path: type the sample question, get a cited answer with
its source passage; a document with `<script>` shows it as text; a PDF upload can be asked about.

Every request the page makes must stay on the server: no fonts, scripts or telemetry from outside.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_api import NAMES, QUESTION, make_pdf, start_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("chromium fehlt (/usr/bin/chromium); installieren mit `apt-get install chromium`",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
SCRIPT_DOC = ("Sicherheitshinweis der Gemeinde Beispielstadt\n\n"
              "Die Gemeinde Beispielstadt warnt im Bürgerportal vor dem Schadcode "
              "<script>alert('xss')</script> und vor Bildern wie ![x](http://example.invalid/x.png) "
              "in Formularfeldern.\n")
SEED_URL = "https://www.vir-nordwest.de/projekte/erprobungsraum/erprobungsraeume-und-modellkommunen-12933"


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    server = start_server(tmp_path_factory.mktemp("browser"), real_pipeline.embedder,
                          {"sicherheitshinweis.txt": SCRIPT_DOC})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, live):
    """A fresh page on the app; after the test: no request left the server, no dialog opened."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="de-DE")
    p = context.new_page()
    outside, dialogs = [], []
    p.on("request", lambda r: outside.append(r.url)
         if not r.url.startswith((live.url, "data:", "blob:")) else None)
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.goto(live.url)
    expect(p.locator("#frage textarea")).to_be_visible(timeout=30_000)
    yield p
    context.close()
    assert outside == [], f"Anfragen nach außen: {outside}"
    assert dialogs == [], f"Skript aus einem Dokument lief: {dialogs}"


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


def test_an_uploaded_pdf_can_be_asked_about_and_opens_at_its_page(page: Page, live, tmp_path,
                                                                 tmp_path_factory):
    pdf = make_pdf(tmp_path / "bericht-musterstadt.pdf", [
        "Jahresbericht der Stadt Musterstadt. Er fasst die Arbeit der Verwaltung zusammen.",
        "Das Bürgerbüro der Stadt Musterstadt wurde am 3. März 2021 eröffnet."])
    page.get_by_text("Dokumente und Index").click()
    page.locator("#hochladen input[type=file]").set_input_files(str(pdf))
    expect(page.locator("#meldung")).to_contain_text("eingelesen", timeout=60_000)
    expect(page.locator("#index-status")).to_contain_text("bericht-musterstadt.pdf")
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-hochladen.png"), full_page=True)

    ask(page, "Wann wurde das Bürgerbüro in Musterstadt eröffnet?")
    expect(page.locator("#chat .message").last).to_contain_text("3. März 2021")
    link = page.locator("#quellen a").first
    expect(link).to_contain_text("S. 2")
    href = link.get_attribute("href")
    assert href == "/api/documents/bericht-musterstadt.pdf/file#page=2"
    served = page.request.get(live.url + href.split("#")[0])
    assert served.ok and served.headers["content-type"] == "application/pdf"
    assert served.body() == pdf.read_bytes()


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
