"""The extractive answer stage over the real indexes with the fake embedder.

The fake embedder's similarities mean nothing absolute, so these tests set min_dense=1.0:
only lexical evidence can carry an answer, which makes the refusal rules visible.
"""

from pathlib import Path

import pytest

from assistant.extractive import REFUSAL, ExtractiveAnswerer
from assistant.lexical import LexicalIndex
from assistant.pipeline import build_pipeline
from assistant.question import analyze_question
from assistant.types import Chunk, Hit
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


# Sentence choice over hand-made hits, with a real (in-memory) lexical index for the term weights.

def _stats(passages: dict[str, str]) -> LexicalIndex:
    lex = LexicalIndex(None)
    fillers = {f"f{i}": t for i, t in enumerate([
        "Der Drucker im Lehrerzimmer wird über CUPS verwaltet.",
        "Schüler melden sich mit ihrem Konto an den Arbeitsplatzrechnern an.",
        "Die Sicherung läuft jede Nacht auf den Backup-Server."])}
    for cid, text in {**passages, **fillers}.items():
        lex.replace_doc(cid, cid, cid, cid, [(cid, text)], [], 1)
    return lex


def _hit(cid: str, text: str, page: int, dense: float) -> Hit:
    chunk = Chunk(cid, cid, "Handbuch", "handbuch.pdf", text, 0, len(text), page=page)
    return Hit(chunk, score=dense, dense=dense)


ROOT_ACCOUNT = ("Bei der Installation wird ein erstes Konto angelegt, der Erstbenutzer. "
                "Dieses Konto ist besonders: Die Berechtigung für sein Home-Verzeichnis steht auf 700.")
ALL_ACCOUNTS = ("Die Berechtigung für jedes Home-Verzeichnis legt der Administrator fest. "
                "Etliche Dateien sollen für andere lesbar sein.")


@pytest.mark.parametrize(("passage_weight", "page"), [(0.6, 60), (0.0, 12)])
def test_the_passage_around_a_sentence_decides_between_equally_covering_sentences(
        passage_weight, page):
    # Both candidate sentences cover "Berechtigung" and "Home-Verzeichnis"; only the passage of
    # the right one also names the Erstbenutzer the question asks about. The other passage comes
    # first and the rank bonus is off, so without the passage term the wrong page wins.
    stats = _stats({"p60": ROOT_ACCOUNT, "p12": ALL_ACCOUNTS})
    hits = [_hit("p12", ALL_ACCOUNTS, 12, 0.9), _hit("p60", ROOT_ACCOUNT, 60, 0.9)]
    answerer = ExtractiveAnswerer(stats, min_dense=0.5, rank_prior=0.0,
                                  passage_weight=passage_weight)
    a = answerer.answer("Welche Berechtigung hat das Home-Verzeichnis des Erstbenutzers?", hits)
    assert not a.refused
    assert [c.page for c in a.citations] == [page]
    assert ("auf 700" in a.text) == (page == 60)


def test_an_english_plural_meets_its_indexed_singular():
    # The German stemmer keeps the s of "Gateways"; the indexed word is "gateway".
    router = ("The debian-edu-router-config package simplifies the setup of a gateway "
              "for a Debian Edu network.")
    tunnel = "Das Paket autossh erlaubt das Einrichten eines SSH-Tunnels zu einer Maschine."
    stats = _stats({"p24": router, "p83": tunnel})
    assert stats.inflections("gateways") == ["gateway"]
    q = analyze_question("Welches Paket hilft beim Einrichten eines Gateways?", stats)
    (need,) = [n for n in q.needs if n.term == "gateways"]
    assert ("gateway", 1.0) in need.forms and need.known
    hits = [_hit("p83", tunnel, 83, 0.9), _hit("p24", router, 24, 0.88)]
    a = ExtractiveAnswerer(stats, min_dense=0.5).answer(q.text, hits)
    assert 24 in [c.page for c in a.citations] and "debian-edu-router-config" in a.text


PXE = ("Wenn die PXE-Installation mit einer Fehlermeldung fehlschlägt, die behauptet, dass eine "
       "XXX.bin-Datei fehlt, dann benötigt die Netzwerkkarte höchstwahrscheinlich eine nicht-freie "
       "Firmware. Die Initrd muss mit dem Befehl pxe-addfirmware ergänzt werden. "
       "Die Firmware-Pakete liegen im Bereich non-free.")


@pytest.mark.parametrize(("question", "kind", "instruction"), [
    ("Die PXE-Installation bricht mit einer fehlenden XXX.bin-Datei ab. Was kann ich tun?",
     "task", True),
    ("Wann fehlt bei der PXE-Installation eine XXX.bin-Datei?", "date", False),
    ("Was benötigt die Netzwerkkarte, wenn bei der PXE-Installation eine XXX.bin-Datei fehlt?",
     "", False),
])
def test_a_task_question_gets_the_instruction_after_the_sentence_naming_its_situation(
        question, kind, instruction):
    stats = _stats({"p43": PXE})
    assert analyze_question(question, stats).kind == kind
    a = ExtractiveAnswerer(stats, min_dense=0.5).answer(question, [_hit("p43", PXE, 43, 0.9)])
    if kind == "date":
        assert a.refused  # no date in the passage: the type rule refuses
        return
    assert a.text.startswith("Wenn die PXE-Installation mit einer Fehlermeldung fehlschlägt")
    assert ("pxe-addfirmware" in a.text) == instruction
    assert "non-free" not in a.text


TUNNEL = ("14.14 Zugriff auf Server hinter einer Firewall\n"
          "Um Maschinen, die hinter einer Firewall liegen, vom Internet aus erreichen zu können, "
          "könnten Sie das Paket autossh installieren. Dies erlaubt das Einrichten eines SSH-Tunnels "
          "zu einer Maschine im Internet, zu der Sie Zugang haben. Von dieser Maschine aus können "
          "Sie dann über den SSH-Tunnel den Server hinter der Firewall erreichen.")


def test_a_sentence_pointing_back_brings_the_sentences_it_points_to():
    # The best match, "Von dieser Maschine aus ... Server hinter der Firewall erreichen", is not
    # understandable alone; "Dies erlaubt ..." before it points back again, to the autossh advice.
    stats = _stats({"p83": TUNNEL})
    a = ExtractiveAnswerer(stats, min_dense=0.5).answer(
        "Wie erreiche ich den Server hinter der Firewall über den SSH-Tunnel?",
        [_hit("p83", TUNNEL, 83, 0.9)])
    assert a.text == TUNNEL.split("\n")[1] + " [1]"
