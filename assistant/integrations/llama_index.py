"""The assistant as llama-index components (extra `[llamaindex]`), and llama-index's LLMs in ours.

- `AssistantRetriever`: a llama-index `BaseRetriever` over our hybrid German retrieval (dense e5
  + BM25 with compounds, dates and identifiers, fused). Each `NodeWithScore` carries what a
  citation needs: title, source, physical page and printed label, section path, document id.
- `VerifiedQueryEngine`: a llama-index query engine in which any llama-index `LLM` writes the
  answer from our evidence units and our verifier checks every sentence against the passage it
  cites; an unsupported sentence is removed before anyone sees it. The `Response` carries the
  verified text, the retrieved passages as `source_nodes` and the report in `metadata`.
- `LlamaIndexGenerator`: any llama-index `LLM` as the assistant's generator backend
  (settings `llm = "llama-index"`, `llm_class`, `llm_kwargs`): Ollama, vLLM, Azure OpenAI or
  LlamaCPP through their llama-index packages, without code of ours.

    from assistant.integrations.llama_index import AssistantRetriever, VerifiedQueryEngine
    nodes = AssistantRetriever.from_index("index/").retrieve("Wer nahm am 13. Juni 2016 teil?")
    engine = VerifiedQueryEngine.from_index("index/", llm=my_llama_index_llm)
    response = engine.query("Wer nahm am 13. Juni 2016 teil?")

docs/llama-index.md has an example that runs as written (tests/integrations/test_llama_index.py runs it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from assistant.answer.llm_answer import LlmAnswerer
from assistant.integrations.llama_index_llm import LlamaIndexGenerator, load_llm  # noqa: F401 (re-exported)
from assistant.pipeline import Pipeline, build_pipeline
from assistant.settings import Settings
from assistant.types import Hit


class AssistantRetriever(BaseRetriever):
    """Our retriever behind llama-index's interface; `top_k` passages per query."""

    def __init__(self, pipeline: Pipeline, top_k: int | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.top_k = top_k or pipeline.settings.top_k

    @classmethod
    def from_index(cls, index_dir: str | Path, top_k: int | None = None,
                   **settings) -> AssistantRetriever:
        """Open an index folder built by `python -m assistant ingest` (no language model)."""
        return cls(_open(index_dir, settings), top_k)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.pipeline.retriever.retrieve(query_bundle.query_str.strip(), self.top_k)
        return [NodeWithScore(node=node_of(h), score=h.score) for h in hits]


class VerifiedQueryEngine(BaseQueryEngine):
    """Retrieve with our retriever, let `llm` answer from the evidence units, keep only the
    sentences the verifier finds in the passage they cite. Refusals come from our evidence gate
    (the LLM is not asked when the sources do not answer); when nothing the LLM says holds, the
    answer is the extractive one, and `metadata["verification"]["fallback"]` says why."""

    def __init__(self, pipeline: Pipeline, llm: LLM, top_k: int | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        super().__init__(callback_manager or CallbackManager([]))
        s = pipeline.settings
        self.pipeline, self.top_k = pipeline, top_k or s.top_k
        self.answerer = LlmAnswerer.from_settings(LlamaIndexGenerator(llm),
                                                  pipeline.answerers["extractive"], s)

    @classmethod
    def from_index(cls, index_dir: str | Path, llm: LLM, top_k: int | None = None,
                   **settings) -> VerifiedQueryEngine:
        """Open an index folder built by `python -m assistant ingest` and answer with `llm`."""
        return cls(_open(index_dir, settings), llm, top_k)

    def _query(self, query_bundle: QueryBundle) -> Response:
        question = query_bundle.query_str.strip()
        hits = self.pipeline.retriever.retrieve(question, self.top_k)
        answer = self.answerer.answer(question, hits)
        return Response(response=answer.text,
                        source_nodes=[NodeWithScore(node=node_of(h), score=h.score) for h in hits],
                        metadata=answer.to_json())

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}  # the prompt is ours (assistant.answer.generation), built from evidence units


def node_of(hit: Hit) -> TextNode:
    """A passage as a llama-index node: its text and where it stands."""
    c = hit.chunk
    page = c.page
    return TextNode(id_=c.id, text=c.text, metadata={
        "title": c.title, "source": c.source, "page": page,
        "page_label": dict(c.page_labels).get(page) if page is not None else None,
        "section": c.section, "doc_id": c.doc_id, "role": c.role, "lead": c.lead,
        "dense": hit.dense, "lexical": hit.lexical})


def _open(index_dir: str | Path, settings: dict) -> Pipeline:
    return build_pipeline(Settings(**{"llm": "off", **settings, "index_dir": Path(index_dir)}))
