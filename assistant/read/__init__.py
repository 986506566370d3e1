"""Stage 1, reading: files (PDF, Office, HTML, Markdown, text) into SourceDoc blocks."""
