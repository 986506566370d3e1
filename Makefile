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

.PHONY: run serve test test-slow ingest eval lint clean ocr browser llm llm-avx512 bench

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
# llama.cpp is built twice (once on a CPU without AVX-512), never with -march=native (that build
# died with SIGILL on a Xeon that reports AMX): a portable build (AVX2, any x86-64 CPU since 2013)
# that pip installs, and an AVX-512 build (AMX stays off, ggml's default; 1.9x faster at reading
# prompts before flash attention, as fast as the portable one with it: docs/llm.md), whose
# libraries the model process uses where the CPU has AVX-512 (assistant/answer/model_process.py).
# Both wheels are cached by their flags: pip's own wheel cache ignores CMAKE_ARGS, so it is
# bypassed (--no-cache-dir). About 3 min per build on 2 cores (13 min on a slower AVX2-only
# machine); a second `make llm` takes seconds, then the smoke test (38 s on that machine).
LLAMA_VERSION := 0.3.36
LLM_CACHE := $(HOME)/.cache/assistant
LLM_COMMON := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
LLM_FAST := $(LLM_COMMON) -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON \
  -DGGML_AVX512_BF16=ON
llm_wheel = $(LLM_CACHE)/wheels/$(LLAMA_VERSION)-$(shell echo '$(1)' | sha256sum | cut -c1-12)

define build_llama
	@test -n "$$(ls $(2)/llama_cpp_python-*.whl 2>/dev/null)" || { \
	  echo "llama-cpp-python $(LLAMA_VERSION) wird gebaut ($(3), einmalig, einige Minuten) …"; \
	  CMAKE_ARGS="$(1)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel -q --no-deps \
	    --no-cache-dir --no-binary llama-cpp-python -w $(2).tmp llama-cpp-python==$(LLAMA_VERSION) \
	  && rm -rf $(2) && mv $(2).tmp $(2) || { echo "Fehler: llama-cpp-python ließ sich nicht bauen."; exit 1; }; }
endef

# The AVX-512 build only where this CPU runs it (the app's own test, model_process.FAST_FLAGS):
# on an AVX2-only CPU it would cost 8 min of building for a library that is never loaded.
HAS_AVX512 = $(shell $(BIN)/python -c "import sys; from assistant.answer.model_process import \
  FAST_FLAGS, cpu_flags; sys.exit(not cpu_flags() >= FAST_FLAGS)" 2>/dev/null && echo yes)

llm: $(VENV)/.installed
	$(call build_llama,$(LLM_COMMON),$(call llm_wheel,$(LLM_COMMON)),portabel)
	$(BIN)/pip install -q "$$(ls $(call llm_wheel,$(LLM_COMMON))/llama_cpp_python-*.whl)[server]" -e ".[llm]"
	@if [ -n "$(HAS_AVX512)" ]; then $(MAKE) --no-print-directory llm-avx512; \
	  else echo "Dieser Prozessor hat kein AVX-512: nur der portable Build wird gebaut und verwendet."; fi
	@$(BIN)/python -m assistant.answer.model_process --smoke || { echo "Fehler: das Sprachmodell läuft \
	  auf diesem Rechner nicht (siehe oben). Der extraktive Modus ist davon nicht betroffen."; exit 1; }

llm-avx512: $(VENV)/.installed
	$(call build_llama,$(LLM_FAST),$(call llm_wheel,$(LLM_FAST)),AVX-512)
	@rm -rf $(LLM_CACHE)/llama-cpp/$(LLAMA_VERSION)-avx512 && mkdir -p $(LLM_CACHE)/llama-cpp && \
	  $(BIN)/python -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
	    [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith('llama_cpp/lib/')]" \
	    "$$(ls $(call llm_wheel,$(LLM_FAST))/llama_cpp_python-*.whl)" $(LLM_CACHE)/llama-cpp/tmp && \
	  mv $(LLM_CACHE)/llama-cpp/tmp/llama_cpp/lib $(LLM_CACHE)/llama-cpp/$(LLAMA_VERSION)-avx512 && \
	  rm -rf $(LLM_CACHE)/llama-cpp/tmp

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
