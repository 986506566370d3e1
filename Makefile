# Two commands on a fresh machine with Python 3.11 and the package registries:
#   make run   - install into .venv, ingest corpus/, answer the sample question
#   make test  - install with the dev dependencies, run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= Wer nahm am 13. Juni 2016 teil?
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-slow ingest lint clean

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

run: $(VENV)/.installed
	$(BIN)/python -m assistant ingest
	$(BIN)/python -m assistant ask "$(QUESTION)"

ingest: $(VENV)/.installed
	$(BIN)/python -m assistant ingest

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m slow

lint: $(VENV)/.dev
	$(BIN)/ruff check assistant tests

clean:
	rm -rf $(VENV) index/chroma index/*.sqlite*
