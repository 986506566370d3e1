"""The OpenAI-compatible endpoints through the official `openai` client, against a live server on
127.0.0.1 (as Open WebUI, LibreChat or a script would connect): streaming and non-streaming.
"""

from __future__ import annotations

import openai
import pytest

from tests.test_api import NAMES, QUESTION, start_server

MODEL = "assistant-extractive"


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    server = start_server(tmp_path_factory.mktemp("openai"), real_pipeline.embedder)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(live):
    with openai.OpenAI(base_url=f"{live.url}/v1", api_key="lokal", max_retries=0, timeout=60) as c:
        yield c


def test_models_lists_the_available_answer_modes(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_a_completion_keeps_its_markers_and_carries_the_cli_citations(client, live):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    text = r.choices[0].message.content
    assert all(n in text for n in NAMES) and text.endswith("[1]")
    assert r.choices[0].finish_reason == "stop" and r.object == "chat.completion"
    expected = live.service.pipeline.ask(QUESTION).to_json()
    assert text == expected["answer"]
    assert r.model_extra["citations"] == expected["citations"]
    assert "Aus dem Rheinland nahm Herr Kahlen teil" in r.model_extra["citations"][0]["quote"]


def test_the_stream_joins_to_the_same_answer(client):
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(deltas) > 20, "token by token, not one piece"
    assert "".join(deltas) == whole.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == whole.model_extra["citations"]
    assert all(c.id == chunks[0].id for c in chunks)


def test_a_conversation_is_answered_by_its_last_user_message(client):
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "Antworte auf Deutsch."},
        {"role": "user", "content": "Wo fand die Abschlussveranstaltung statt?"},
        {"role": "assistant", "content": "Im Presse- und Besucherzentrum des Bundespresseamts. [1]"},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ])
    assert "Lühr" in r.choices[0].message.content


def test_a_refusal_says_so_and_lists_the_closest_passages(client):
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": "Wie hoch ist die Hundesteuer in Gütersloh?"}])
    assert r.model_extra["refused"] is True and r.model_extra["citations"] == []
    assert r.model_extra["closest"], "closest passages are shown with a refusal"


def test_an_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError, match=MODEL):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
