"""Stage 2, indexing: chunks, embeddings, Chroma, BM25 and the ingest that writes them."""
