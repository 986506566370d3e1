"""Secure defaults: loopback unless a key is set, the key guarding /api, /v1 and the UI, CORS off,
logs without document or question text, and the bounded line in front of the language model."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from assistant.serve.api import create_app, serve
from assistant.serve.security import bind_problem, is_loopback
from assistant.serve.service import Service
from tests.conftest import ROOT, FakeEmbedder, logged_lengths_only
from tests.live import KNOWN_QUOTE, QUESTION, SlowGenerator, seeded_pipeline, serve_app

KEY = "k3y-fuer-die-tests-0123456789"
SECRET_SENTENCE = "Der Kämmerer von Geheimhausen verwahrt den Tresorschlüssel im Blumenkasten."


# ------------------------------------------------------------------ binding


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_key(host):
    assert is_loopback(host) and bind_problem(host, "") is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "assistent.example"])
def test_any_other_address_needs_a_long_key(host):
    assert not is_loopback(host)
    assert "bitte einen API-Schlüssel setzen (ASSISTANT_API_KEY" in bind_problem(host, "")
    assert "zu kurz" in bind_problem(host, "kurz")
    assert bind_problem(host, KEY) is None
    assert "nur ASCII-Zeichen" in bind_problem(host, "schlüssel-mit-umlaut-ü")


def test_serve_refuses_an_open_address_without_a_key(tmp_path, capsys):
    p = seeded_pipeline(tmp_path, FakeEmbedder(), host="0.0.0.0")
    assert serve(p) == 2
    assert "von anderen Rechnern erreichbar" in capsys.readouterr().err


def test_the_serve_command_refuses_before_loading_any_model(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_API_KEY"}
    t = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "assistant", "serve", "--host", "0.0.0.0", "--index",
                          str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("Auf 0.0.0.0 wäre der Assistent von anderen Rechnern erreichbar")
    assert time.monotonic() - t < 60 and not list(tmp_path.iterdir())  # no index was opened


def test_the_default_address_is_loopback():
    from assistant.settings import Settings

    assert Settings().host == "127.0.0.1" and Settings().api_key == "" and Settings().cors_origins == []


# ------------------------------------------------------------------ API key


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    p = seeded_pipeline(tmp_path_factory.mktemp("locked"), FakeEmbedder(), api_key=KEY)
    served = serve_app(create_app(p))
    yield served
    served.stop()


def _basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"wer-auch-immer:{password}".encode()).decode()}


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/ask"), ("POST", "/api/chat"), ("GET", "/api/documents"), ("POST", "/api/documents"),
    ("DELETE", "/api/documents/kooperation-der-erprobungsraeume.txt"), ("POST", "/api/documents/reindex"),
    ("GET", "/api/documents/kooperation-der-erprobungsraeume.txt/file"), ("POST", "/api/feedback"),
    ("GET", "/api/ready"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions")])
def test_every_api_route_demands_the_key(locked, method, path):
    r = httpx.request(method, locked.url + path, json={"question": QUESTION})
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="Offline-Assistent"'
    body = r.json()
    message = body["error"]["message"] if path.startswith("/v1/") else body["detail"]
    assert message.startswith("Anmeldung erforderlich: bitte den API-Schlüssel")
    wrong = httpx.request(method, locked.url + path, headers={"Authorization": "Bearer falsch"})
    assert wrong.status_code == 401 and "Der API-Schlüssel ist ungültig." in wrong.text
    ready = httpx.get(locked.url + "/api/ready", headers={"Authorization": f"Bearer {KEY}"})
    assert ready.json()["chunks"] == locked.app.state.service.pipeline.store.count()  # nothing deleted


def test_the_right_key_answers_and_health_stays_open(locked):
    assert httpx.get(locked.url + "/api/health").json() == {"status": "ok"}
    r = httpx.post(locked.url + "/api/ask", json={"question": QUESTION},
                   headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and KNOWN_QUOTE in r.json()["citations"][0]["quote"]


def test_the_openai_client_passes_its_api_key_as_bearer(locked):
    good = openai.OpenAI(base_url=locked.url + "/v1", api_key=KEY)
    r = good.chat.completions.create(model="assistant-extractive",
                                     messages=[{"role": "user", "content": QUESTION}])
    assert "Kahlen" in r.choices[0].message.content
    bad = openai.OpenAI(base_url=locked.url + "/v1", api_key="lokal", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API-Schlüssel ist ungültig"):
        bad.models.list()


def test_the_browser_ui_asks_for_the_key_as_a_password(locked):
    r = httpx.get(locked.url + "/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Basic realm="Offline-Assistent"')
    assert httpx.get(locked.url + "/", headers=_basic("falsch")).status_code == 401
    ok = httpx.get(locked.url + "/", headers=_basic(KEY))
    assert ok.status_code == 200 and "Offline-Assistent" in ok.text
    f = httpx.get(locked.url + "/api/documents/kooperation-der-erprobungsraeume.txt/file",
                  headers=_basic(KEY))  # the links in the sources panel
    assert f.status_code == 200 and "Kahlen" in f.text


def test_an_upload_without_the_key_is_refused_unread(locked):
    corpus = locked.app.state.service.pipeline.settings.corpus_dir
    before = sorted(p.name for p in corpus.iterdir())
    r = httpx.post(locked.url + "/api/documents", files={"file": ("neu.txt", "Neuer Text. " * 100)})
    assert r.status_code == 401 and sorted(p.name for p in corpus.iterdir()) == before


# ------------------------------------------------------------------ CORS


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(url + "/api/ask", headers={"Origin": origin,
                                                    "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"})


def test_cors_is_off_by_default(tmp_path):
    served = serve_app(create_app(seeded_pipeline(tmp_path, FakeEmbedder()), ui=False))
    try:
        pre = _preflight(served.url, "http://fremd.example")
        assert "access-control-allow-origin" not in pre.headers
        r = httpx.post(served.url + "/api/ask", json={"question": QUESTION},
                       headers={"Origin": "http://fremd.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    finally:
        served.stop()


def test_configured_origins_alone_are_allowed(tmp_path):
    p = seeded_pipeline(tmp_path, FakeEmbedder(), cors_origins=["http://intranet.example"], api_key=KEY)
    served = serve_app(create_app(p, ui=False))
    try:
        pre = _preflight(served.url, "http://intranet.example")  # a preflight carries no key
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://intranet.example"
        assert "access-control-allow-origin" not in _preflight(served.url, "http://fremd.example").headers
    finally:
        served.stop()


# ------------------------------------------------------------------ logs


def test_info_logs_carry_no_document_or_question_text(tmp_path, caplog):
    caplog.set_level(logging.INFO)  # every logger, ours and the libraries'
    question = "Wo verwahrt der Kämmerer von Geheimhausen den Tresorschlüssel?"
    p = seeded_pipeline(tmp_path, FakeEmbedder(), {"geheim.txt": SECRET_SENTENCE})
    svc = Service(p, tmp_path / "feedback.jsonl")
    svc.add_document("nachtrag.txt", f"Nachtrag: {SECRET_SENTENCE} Er ist aus Holz.".encode())
    answer = svc.ask(question)
    assert SECRET_SENTENCE in answer.citations[0].quote  # the text was really read and answered
    said = logged_lengths_only(caplog, question, "extractive",
                               ("Geheimhausen", "Tresorschlüssel", "Blumenkasten", "Kämmerer"))
    assert "Dokument eingelesen: nachtrag.txt" in said


# ------------------------------------------------------------------ LLM line


@pytest.fixture
def llm_server(tmp_path):
    gen = SlowGenerator("Herr Kahlen nahm am 13. Juni 2016 teil [1].")
    p = seeded_pipeline(tmp_path, FakeEmbedder(), generator=gen, answer_mode="llm",
                        llm_queue=2)
    served = serve_app(create_app(p, ui=False))
    yield served, gen
    gen.release.set()
    served.stop()


def test_a_full_llm_line_answers_429_with_retry_after(llm_server):
    served, gen = llm_server
    gate = served.app.state.service.gate
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def ask(path: str, body: dict) -> None:
        r = httpx.post(served.url + path, json=body, timeout=60)
        with lock:
            results.append(r)

    ask_body = {"question": QUESTION}
    v1_body = {"model": "assistant-llm", "messages": [{"role": "user", "content": QUESTION}]}
    threads = [threading.Thread(target=ask, args=("/api/ask", ask_body)) for _ in range(3)]
    for t in threads:  # one generates, two wait: the line (llm_queue = 2) is full
        t.start()
    deadline = time.monotonic() + 30
    while gate.inside < 3:
        assert time.monotonic() < deadline, "Die Warteschlange füllte sich nicht"
        time.sleep(0.02)
    ask("/api/ask", ask_body)
    ask("/v1/chat/completions", v1_body)
    over = [r for r in results if r.status_code == 429]
    assert len(over) == 2 and len(results) == 2  # refused at once, while the others still wait
    assert int(over[0].headers["retry-after"]) >= 1 and int(over[1].headers["retry-after"]) >= 1
    assert over[0].json()["detail"].startswith("Das Sprachmodell ist ausgelastet (2 Anfragen warten).")
    assert over[1].json()["error"]["message"].startswith("Das Sprachmodell ist ausgelastet")
    fast = httpx.post(served.url + "/api/ask", json={"question": QUESTION, "mode": "extractive"})
    assert fast.status_code == 200 and KNOWN_QUOTE in fast.json()["citations"][0]["quote"]
    gen.release.set()
    for t in threads:
        t.join(timeout=60)
    done = [r for r in results if r.status_code == 200]
    assert len(done) == 3 and all("Herr Kahlen nahm am 13. Juni 2016 teil" in r.json()["answer"]
                                  for r in done)
    assert gen.calls == 3 and gen.most_at_once == 1  # one generation at a time
    assert gate.peak == 3 and gate.inside == 0  # never more than 1 + llm_queue held, all released
