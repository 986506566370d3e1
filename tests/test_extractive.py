"""The extractive answer stage over the real indexes with the fake embedder.

The fake embedder's similarities mean nothing absolute, so these tests set min_dense=1.0:
only lexical evidence can carry an answer, which makes the refusal rules visible.
"""

from pathlib import Path

import pytest

from assistant.extractive import REFUSAL
from assistant.pipeline import build_pipeline
from tests.conftest import FakeEmbedder, make_settings


@pytest.fixture
def pipeline(tmp_path: Path, corpus_copy: Path):
    p = build_pipeline(make_settings(tmp_path, corpus_copy, min_dense=1.0), embedder=FakeEmbedder())
    p.ingest(progress=False)
    return p


def test_sample_question_names_the_four_participants_and_cites_their_sentence(pipeline):
    a = pipeline.ask("Wer nahm am 13. Juni 2016 teil?")
    assert not a.refused
    for name in ("Kahlen", "Schlusche", "Dr. Brockmann", "Staatsrat Lühr"):
        assert name in a.text
    assert a.text.endswith("[1]")
    (c,) = a.citations
    assert "Aus dem Rheinland nahm Herr Kahlen teil" in c.quote
    assert c.title == "Kooperation der Erprobungsräume" and c.page is None
    assert c.source.startswith("https://www.vir-nordwest.de/")


def test_answer_sentences_are_verbatim_from_the_cited_quote(pipeline):
    a = pipeline.ask("Wann war die Abschlussveranstaltung des Pilotvorhabens?")
    assert "22. September 2016" in a.text
    body = a.text.replace(" [1]", "")
    assert body in a.citations[0].quote


def test_a_list_question_returns_the_list_with_its_announcement(pipeline):
    a = pipeline.ask("Welche Kommunen wurden ausgewählt?")
    for name in ("Halle (Saale)", "Gütersloh", "Düren", "Norderstedt", "Ibbenbüren",
                 "Cochem-Zell", "Ortenaukreis", "Heidekreis"):
        assert name in a.text


def test_an_anaphoric_next_sentence_completes_the_answer(pipeline):
    a = pipeline.ask("Was stand im Brief an Staatssekretär Vitt vom Februar 2016?")
    assert "Darin wurde die Bitte formuliert" in a.text


@pytest.mark.parametrize(("question", "about"), [
    ("Wie hoch ist die Hundesteuer in Gütersloh?", ""),
    ("Wer nahm am 13. Juni 2017 teil?", "13. Juni 2017"),
    ("Welche Ergebnisse brachte der IT-Gipfel 2019?", "2019"),
    ("Wie viele Einwohner hat Norderstedt?", ""),
])
def test_questions_the_sources_do_not_answer_are_refused_with_closest_passages(
        pipeline, question, about):
    a = pipeline.ask(question)
    assert a.refused and a.citations == ()
    assert (f"Zu „{about}“ enthalten die Quellen keine Angaben." if about else REFUSAL) in a.text
    assert len(a.closest) == 3 and all(c.quote for c in a.closest)


def test_empty_question_is_refused_politely(pipeline):
    a = pipeline.ask("   ")
    assert a.refused and "Bitte stellen Sie eine Frage" in a.text


def test_json_contract(pipeline):
    out = pipeline.ask("Wer nahm am 13. Juni 2016 teil?").to_json()
    assert set(out) == {"answer", "refused", "citations"}
    assert set(out["citations"][0]) == {"n", "title", "source", "page", "quote"}
    refused = pipeline.ask("Was kostet ein Personalausweis?").to_json()
    assert refused["refused"] is True and refused["citations"] == [] and refused["closest"]
