# Two commands on a fresh machine with Python 3.11 and the package registries:
#   make run   - install into .venv, ingest corpus/, answer the sample question
#   make test  - install with the dev dependencies, run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= Wer nahm am 13. Juni 2016 teil?
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve test test-slow ingest eval lint clean ocr browser llm bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch==2.13.0 goes into the same pip command as sentence-transformers: it is the CPU build,
# an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[st,dev]" "torch==2.13.0"
	touch $@

# OCR for scanned PDF pages: Tesseract with German, from Debian's packages, where we may install.
# Without it, scanned pages are skipped with a warning; nothing else depends on it.
ocr:
	@command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx deu || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-deu >/dev/null) \
	    || echo "Hinweis: tesseract-ocr-deu ließ sich nicht installieren; gescannte Seiten werden übersprungen."; \
	  else echo "Hinweis: für Texterkennung bitte 'tesseract-ocr tesseract-ocr-deu' installieren."; fi; }

# Chromium from Debian's packages for the browser tests (Playwright drives it; `playwright install`
# cannot download here). Without it, the browser tests are skipped with the reason.
browser:
	@test -x /usr/bin/chromium || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "Hinweis: chromium ließ sich nicht installieren; die Browser-Tests werden übersprungen."; \
	  else echo "Hinweis: für die Browser-Tests bitte 'chromium' installieren."; fi; }

# Ends with the web app running (Ctrl+C stops it): the URL is printed.
run: $(VENV)/.installed ocr
	$(BIN)/python -m assistant ingest
	$(BIN)/python -m assistant ask "$(QUESTION)"
	$(BIN)/python -m assistant serve --host $(HOST) --port $(PORT)

serve: $(VENV)/.installed
	$(BIN)/python -m assistant serve --host $(HOST) --port $(PORT)

# The local language model for the answer mode "llm" (then: ASSISTANT_LLM=llama-cpp).
llm: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[llm]"

ingest: $(VENV)/.installed
	$(BIN)/python -m assistant ingest

test: $(VENV)/.dev ocr browser
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m slow

eval: $(VENV)/.dev
	$(BIN)/python -m assistant eval

# Performance benchmarks (ingest, queries at 1k/10k/100k chunks, server); needs ../shared.
# make bench BENCH_ARGS=--quick for a few minutes' version; tables and charts go to bench/out/.
BENCH_ARGS ?=
bench: $(VENV)/.installed
	$(BIN)/python bench/perf_all.py $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check assistant tests

clean:
	rm -rf $(VENV) index/chroma index/*.sqlite*
