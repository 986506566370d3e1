"""The assistant's retrieval as a llama-index component (extra `[llamaindex]`).

`AssistantRetriever` is a llama-index `BaseRetriever` over our hybrid German retrieval (dense
e5 + BM25 with compounds, dates and identifiers, fused): a llama-index pipeline gets our
passages as `NodeWithScore`, each with the metadata a citation needs (title, source, physical
page and printed label, section path, document id).

    from assistant.integrations.llama_index import AssistantRetriever
    retriever = AssistantRetriever.from_index("index/")
    nodes = retriever.retrieve("Wer nahm am 13. Juni 2016 teil?")
"""

from __future__ import annotations

from pathlib import Path

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

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
        return cls(build_pipeline(Settings(index_dir=Path(index_dir), llm="off", **settings)),
                   top_k)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.pipeline.retriever.retrieve(query_bundle.query_str.strip(), self.top_k)
        return [NodeWithScore(node=node_of(h), score=h.score) for h in hits]


def node_of(hit: Hit) -> TextNode:
    """A passage as a llama-index node: its text and where it stands."""
    c = hit.chunk
    page = c.page
    return TextNode(id_=c.id, text=c.text, metadata={
        "title": c.title, "source": c.source, "page": page,
        "page_label": dict(c.page_labels).get(page) if page is not None else None,
        "section": c.section, "doc_id": c.doc_id, "role": c.role, "lead": c.lead,
        "dense": hit.dense, "lexical": hit.lexical})
