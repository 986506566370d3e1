"""German text: normalizing, sentences, dates, the BM25 analyzer, compounds."""
