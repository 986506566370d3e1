"""The tab „Auswertung“ in a real browser (Debian's chromium driven by Playwright, as in
tests/system/test_browser.py) against a live server with the real default pipeline over the seed corpus.

A member of staff uploads a 5-row CSV question set written in a spreadsheet, runs it, and sees
its figures, its chart, the one failure with question, answer and citations, and the report to
download; a bad row is named with its row number; a second run while one is going gets a German
message, and the running one can be cancelled; the chat's ratings become a question set.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from assistant.evaluate.question_sets import TEMPLATE
from tests.live import live_server
from tests.serve.test_api import QUESTION
from tests.system.browser import app_page, launched  # skips the module without chromium

# As German Excel saves „CSV (Trennzeichen-getrennt)“: semicolons, Windows-1252. Row 6 asks for
# a place the seed page never names, so it must fail.
FIVE_ROWS = """Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen
Wer nahm am 13. Juni 2016 teil?;Kahlen | Schlusche | Brockmann | Lühr;;;nein
Wo fand die Abschlussveranstaltung statt?;Berlin;;;
Wie hoch ist die Hundesteuer in Gütersloh?;;;;ja
Wer ist der Bundeskanzler von Österreich?;;;;ja
Welche Kommunen wurden als Modellkommunen ausgewählt?;Hamburg-Altona;;;
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    yield from live_server(tmp_path_factory.mktemp("browser-auswertung"), real_pipeline.embedder)


@pytest.fixture(scope="module")
def browser():
    yield from launched()


@pytest.fixture
def page(browser: Browser, live):
    """A fresh page on the app's tab „Auswertung“; after the test: no request left the server,
    no script from an upload ran."""
    with app_page(browser, live.url, accept_downloads=True) as p:
        p.get_by_role("tab", name="Auswertung").click()
        expect(p.locator("#auswertung-starten")).to_be_visible()
        yield p


def upload(page: Page, path: Path) -> None:
    page.locator("#fragensatz-datei input[type=file]").set_input_files(str(path))


def choose(page: Page, label: str) -> None:
    """Pick a question set in the dropdown."""
    page.locator("#fragensatz input").click()
    page.get_by_role("option", name=label).click()
    expect(page.locator("#fragensatz input")).to_have_value(label)


def downloaded(page: Page, live, container: str) -> dict[str, str]:
    """The files offered in a gr.File: name -> text, fetched from the links the page shows."""
    links = page.locator(f"{container} a[href]")
    expect(links.first).to_be_visible(timeout=10_000)
    out = {}
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        r = page.request.get(href if href.startswith("http") else live.url + href)
        assert r.ok, href
        out[href.rsplit("/", 1)[-1]] = r.body().decode("utf-8-sig")
    return out


def test_staff_upload_a_csv_run_it_and_see_figures_and_the_failure(page: Page, live, tmp_path,
                                                                   tmp_path_factory):
    csv_file = tmp_path / "fragen.csv"
    csv_file.write_bytes(FIVE_ROWS.replace("\n", "\r\n").encode("cp1252"))
    upload(page, csv_file)
    expect(page.locator("#fragensatz-meldung")).to_have_text(
        "5 Fragen gelesen (CSV, Windows-1252, Trennzeichen „;“).")
    expect(page.locator("#fragensatz input")).to_have_value("Hochgeladen: fragen.csv (5 Fragen)")

    page.locator("#auswertung-starten").click()
    status = page.locator("#auswertung-status")
    expect(status).to_have_text("Auswertung „fragen“ fertig. 4 von 5 bestanden.", timeout=120_000)
    figures = page.locator("#auswertung-kennzahlen")
    expect(figures.locator("tr", has_text="Bestanden").first).to_have_text(re.compile(r"Bestanden\s*4$"))
    expect(figures.locator("tr", has_text="Anteil bestanden")).to_have_text(
        re.compile(r"Anteil bestanden\s*80 %"))
    expect(figures.locator("tr", has_text="Abzulehnende abgelehnt")).to_contain_text("100 %")
    chart = page.locator("#auswertung-diagramm img")
    expect(chart).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", chart.element_handle()) >= 600

    failures = page.locator("#auswertung-fehler")
    expect(failures.locator("h3")).to_have_text("Nicht bestanden: 1 von 5")
    failure = failures.locator(".fehler")
    expect(failure).to_have_count(1)
    expect(failure).to_contain_text("zeile-6: Welche Kommunen wurden als Modellkommunen ausgewählt?")
    expect(failure.locator(".problem")).to_have_text("✗ fehlt: Hamburg-Altona")
    expect(failure.locator("blockquote")).not_to_be_empty()  # the answer that was given
    expect(failure.locator("li").first).to_contain_text("[1] Kooperation der Erprobungsräume: „")
    shot = tmp_path_factory.getbasetemp() / "ui-auswertung.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"Bildschirmfoto: {shot}")

    files = downloaded(page, live, "#auswertung-dateien")
    assert sorted(files) == ["metrics.json", "report.md"]
    assert json.loads(files["metrics.json"])["fragen"]["passed"] == 4
    assert "### zeile-6: Welche Kommunen wurden als Modellkommunen ausgewählt?" in files["report.md"]
    assert "fehlt: Hamburg-Altona" in files["report.md"]


def test_a_bad_row_is_named_and_the_good_rows_are_run(page: Page, tmp_path, tmp_path_factory):
    csv_file = tmp_path / "mit-fehler.csv"
    csv_file.write_text("Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen\n"
                        "Wer nahm am 13. Juni 2016 teil?;Kahlen;;;\n"
                        "Wo fand die Abschlussveranstaltung statt?;Berlin;;drei;\n"
                        "Wer?;;;;<img src=x onerror=alert(1)>\n", encoding="utf-8")
    upload(page, csv_file)
    message = page.locator("#fragensatz-meldung")
    expect(message.locator("p").first).to_have_text(
        "1 Frage gelesen (CSV, UTF-8, Trennzeichen „;“). 2 Hinweise:")
    expect(message.locator("li")).to_have_text([
        "Zeile 3: „Seite“ muss eine ganze Zahl ab 1 sein (gefunden: „drei“). Die Zeile wird nicht "
        "ausgewertet.",
        "Zeile 4: „Ablehnen“ muss „ja“, „nein“ oder leer sein (gefunden: „<img src=x "
        "onerror=alert(1)>“). Die Zeile wird nicht ausgewertet."])
    assert message.locator("img").count() == 0  # shown as text, never as markup
    page.locator("#auswertung-starten").click()
    expect(page.locator("#auswertung-status")).to_have_text(
        "Auswertung „mit-fehler“ fertig. 1 von 1 bestanden.", timeout=60_000)
    expect(page.locator("#auswertung-fehler")).to_contain_text(
        "Alle beantworteten Fragen haben bestanden.")
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-auswertung-zeilenfehler.png"),
                    full_page=True)


def test_one_run_at_a_time_the_chat_goes_on_and_a_run_can_be_cancelled(
        page: Page, browser, live, tmp_path, tmp_path_factory, monkeypatch):
    """The pipeline holds the run's first question until the test lets it go: meanwhile a second
    user's click is refused in German, that user's chat question is answered, and „Abbrechen“
    stops the run after the question being asked."""
    go, entered = threading.Event(), threading.Event()
    pipeline = live.service.pipeline
    real = pipeline.ask_with_hits

    def held(question, history=(), mode=None):
        entered.set()
        assert go.wait(60), "Test hat die Frage nicht freigegeben"
        return real(question, history, mode)

    monkeypatch.setattr(pipeline, "ask_with_hits", held)
    csv_file = tmp_path / "lang.csv"
    csv_file.write_text(FIVE_ROWS, encoding="utf-8")
    upload(page, csv_file)
    expect(page.locator("#fragensatz input")).to_have_value("Hochgeladen: lang.csv (5 Fragen)")
    page.locator("#auswertung-starten").click()
    assert entered.wait(30)
    expect(page.locator("#auswertung-status")).to_contain_text("0/5 Fragen")  # the progress bar
    expect(page.locator("#auswertung-status")).to_contain_text("Frage 1 von 5")
    page.screenshot(path=str(tmp_path_factory.getbasetemp() / "ui-auswertung-laeuft.png"))

    other = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="de-DE")
    try:
        second = other.new_page()
        second.goto(live.url)
        expect(second.locator("#frage textarea")).to_be_visible(timeout=30_000)
        second.locator("#frage textarea").fill(QUESTION)  # the chat is not held up
        second.locator("#senden").click()
        expect(second.locator("#chat .message").last).to_contain_text("Kahlen", timeout=30_000)
        second.get_by_role("tab", name="Auswertung").click()
        expect(second.locator("#auswertung-status")).to_have_text(
            "Auswertung „lang“ läuft: 0 von 5 Fragen beantwortet.")
        second.locator("#auswertung-starten").click()
        expect(second.locator("#auswertung-status")).to_have_text(
            "Es läuft schon eine Auswertung („lang“, 0 von 5 Fragen). Bitte warten, bis sie fertig "
            "ist, oder sie abbrechen.", timeout=20_000)
    finally:
        other.close()

    page.locator("#auswertung-abbrechen").click()
    expect(page.get_by_text("Die Auswertung wird nach der aktuellen Frage abgebrochen.")).to_be_visible()
    go.set()
    expect(page.locator("#auswertung-status")).to_have_text(
        "Auswertung „lang“ abgebrochen nach 1 von 5 Fragen. 1 von 1 bestanden.", timeout=60_000)
    expect(page.locator("#auswertung-kennzahlen tr", has_text="Fragen").first).to_have_text(
        re.compile(r"Fragen\s*1$"))
    expect(page.locator("#auswertung-fehler")).to_contain_text("Alle beantworteten Fragen haben bestanden.")


def test_the_chats_ratings_become_a_question_set_to_download(page: Page, live):
    page.get_by_role("tab", name="Fragen").click()  # the chat, in the tab beside
    page.locator("#frage textarea").fill(QUESTION)
    page.locator("#senden").click()
    expect(page.locator("#quellen .quelle").first).to_be_visible(timeout=30_000)
    page.locator("#chat").get_by_role("button", name="Gefällt mir", exact=True).last.click()
    expect(page.get_by_text("Danke für Ihre Rückmeldung.")).to_be_visible(timeout=10_000)

    page.get_by_role("tab", name="Auswertung").click()
    page.get_by_text("Rückmeldungen aus dem Chat als Fragensatz").click()
    page.locator("#rueckmeldungen-erstellen").click()
    expect(page.locator("#rueckmeldungen-meldung")).to_contain_text(
        "1 Fragen aus Rückmeldungen: 1 mit 👍 (bereit zur Auswertung), 0 mit 👎 (zu prüfen).")
    files = downloaded(page, live, "#rueckmeldungen-dateien")
    assert sorted(files) == ["rueckmeldungen.csv", "rueckmeldungen.jsonl"]
    header, row = files["rueckmeldungen.csv"].splitlines()[:2]
    assert header == "Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen;Zitat;ID;Notiz"
    assert row.startswith(f"{QUESTION};;;;;") and "Aus dem Rheinland nahm Herr Kahlen teil" in row
    item = json.loads(files["rueckmeldungen.jsonl"])
    assert item["question"] == QUESTION and item["id"].startswith("fb-up-")

    choose(page, "Rückmeldungen aus dem Chat (👍)")  # and run at once: the 👍 answer holds
    page.locator("#auswertung-starten").click()
    expect(page.locator("#auswertung-status")).to_have_text(
        "Auswertung „rueckmeldungen“ fertig. 1 von 1 bestanden.", timeout=60_000)


def test_a_shipped_set_whose_documents_are_not_in_the_index_is_refused(page: Page):
    choose(page, "statutes (36 Fragen)")
    page.locator("#auswertung-starten").click()
    expect(page.locator("#auswertung-status")).to_contain_text(
        "Die Dokumente des Fragensatzes „statutes“ sind nicht im Index (baugenehmigungsgebuehrensatzung.md, ")
    expect(page.locator("#auswertung-status")).to_contain_text(
        "Bitte zuerst unter „Dokumente und Index“ hochladen, oder den Satz mit eigenem Index "
        "auswerten: python -m assistant eval --sets statutes")


def test_the_template_is_offered_and_reads_back_without_problems(page: Page, live, tmp_path):
    page.get_by_text("Aufbau der Tabelle und Vorlage").click()
    expect(page.locator("#fragensatz-hilfe")).to_contain_text("getrennt durch |")
    files = downloaded(page, live, "#fragensatz-vorlage")
    assert list(files) == ["fragensatz-vorlage.csv"]
    assert files["fragensatz-vorlage.csv"].replace("\r\n", "\n") == TEMPLATE
    saved = tmp_path / "vorlage.csv"
    saved.write_text(files["fragensatz-vorlage.csv"], encoding="utf-8-sig", newline="")
    upload(page, saved)
    expect(page.locator("#fragensatz-meldung")).to_have_text(
        "3 Fragen gelesen (CSV, UTF-8, Trennzeichen „;“).")
