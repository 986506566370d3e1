"""Stage 4, answering: evidence units, the extractive answerer, the llm reader and its verifier, citations."""
