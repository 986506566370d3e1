"""Stage 3, retrieval: the question analysed, follow-ups resolved, dense + BM25 fused."""
