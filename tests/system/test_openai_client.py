"""The OpenAI-compatible endpoints through the official `openai` client, against a live server on
127.0.0.1 (as Open WebUI, LibreChat or a script would connect): streaming and non-streaming, with
the source list at the end of the content (the default, for clients that show only the content)
and without it (for clients that read `citations`).
"""

from __future__ import annotations

import openai
import pytest

from tests.live import live_server
from tests.serve.test_api import NAMES, QUESTION

MODEL = "assistant-extractive"


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_pipeline):
    yield from live_server(tmp_path_factory.mktemp("openai"), real_pipeline.embedder)


@pytest.fixture(scope="module")
def client(live):
    with openai.OpenAI(base_url=f"{live.url}/v1", api_key="lokal", max_retries=0, timeout=60) as c:
        yield c


def test_models_lists_the_available_answer_modes(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_a_completion_keeps_its_markers_and_carries_the_cli_citations(client, live):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    text = r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop" and r.object == "chat.completion"
    expected = live.service.pipeline.ask(QUESTION).to_json()
    answer, sources = text.split("\n\nQuellen:\n")
    assert answer == expected["answer"] and all(n in answer for n in NAMES) and answer.endswith("[1]")
    assert r.model_extra["citations"] == expected["citations"]
    assert "Aus dem Rheinland nahm Herr Kahlen teil" in r.model_extra["citations"][0]["quote"]
    # the sources in the content itself, for clients that show only the content
    (line,) = sources.splitlines()
    cite = expected["citations"][0]
    head = f"- [1] {cite['title']} – „"
    assert line.startswith(head) and line.endswith(" …“")
    shown = line[len(head):-3]
    assert " ".join(cite["quote"].split()).startswith(shown) and 50 < len(shown) <= 100, \
        "the quote's beginning, shortened at a word"


def test_the_source_list_can_be_turned_off_per_request(client, live):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}],
                                       extra_body={"citations_in_content": False})
    assert r.choices[0].message.content == live.service.pipeline.ask(QUESTION).text
    assert r.model_extra["citations"][0]["n"] == 1


@pytest.mark.parametrize("listed", [True, False], ids=["mit-quellen", "ohne-quellen"])
def test_the_stream_joins_to_the_same_answer(client, listed):
    ask = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}],
           "extra_body": {"citations_in_content": listed}}
    whole = client.chat.completions.create(**ask)
    chunks = list(client.chat.completions.create(**ask, stream=True))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(deltas) > 20, "token by token, not one piece"
    assert "".join(deltas) == whole.choices[0].message.content
    assert ("\n\nQuellen:\n- [1] " in deltas[-1]) is listed, "the list comes as the last piece"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == whole.model_extra["citations"]
    assert all(c.id == chunks[0].id for c in chunks)


def test_a_follow_up_reads_the_answer_not_its_source_list(client):
    first = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    shown = first.choices[0].message.content
    answer = shown.split("\n\nQuellen:\n")[0]
    assert answer != shown

    def follow_up(earlier: str):
        return client.chat.completions.create(model=MODEL, messages=[
            {"role": "user", "content": QUESTION}, {"role": "assistant", "content": earlier},
            {"role": "user", "content": "Und wer war der zweite?"}])

    with_list, without = follow_up(shown), follow_up(answer)
    assert with_list.choices[0].message.content == without.choices[0].message.content
    assert not with_list.model_extra["refused"]


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
    closest = r.model_extra["closest"]
    assert closest, "closest passages are shown with a refusal"
    text, listed = r.choices[0].message.content.split("\n\nAm nächsten kamen diese Passagen:\n")
    assert "keine Angaben" in text and "Quellen:" not in text
    assert [line.split(" – „")[0] for line in listed.splitlines()] == [f"- {c['title']}" for c in closest]


def test_an_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError, match=MODEL):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
