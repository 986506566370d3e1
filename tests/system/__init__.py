"""System tests: crashes, hostile input, the browser, the API schema, a Chroma
server, security, a real OpenAI client; the docs and the package layout."""
