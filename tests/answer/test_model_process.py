"""The model in its own process: the supervisor starts it, survives its crash, hang or SIGILL
with a German message, restarts it, and the app keeps answering. A real child process speaking
real HTTP (tests/fake_model_server.py) stands in for llama_cpp.server in the default tier; the
slow tier kills the real model mid-answer."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.answer.generation import GenerationError
from assistant.answer.model_process import (
    FAST_FLAGS,
    ModelProcess,
    ServerConfig,
    SupervisedGenerator,
    describe_exit,
    fast_library,
)
from assistant.pipeline import build_pipeline
from tests.conftest import make_settings

FAKE = str(Path(__file__).resolve().parents[1] / "fake_model_server.py")
QUESTION = "Wer nahm am 13. Juni 2016 teil?"
MESSAGES = [{"role": "user", "content": QUESTION}]


def fake(tmp_path: Path, *extra: str, **kw) -> ModelProcess:
    marker = tmp_path / "starts.jsonl"
    command = [sys.executable, FAKE, "--port", "{port}", "--marker", str(marker), *extra]
    config = ServerConfig(tmp_path / "model.gguf", command=command, start_timeout=20, **kw)
    return ModelProcess(config)


def starts(tmp_path: Path) -> list[dict]:
    path = tmp_path / "starts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "Zeitüberschreitung"
        time.sleep(0.05)


def test_the_supervised_server_streams_the_answer(tmp_path):
    process = fake(tmp_path)
    try:
        pieces = list(SupervisedGenerator(process).stream(MESSAGES, 50, 0.1))
    finally:
        process.stop()
    assert "".join(pieces) == "Herr Kahlen nahm am 13. Juni 2016 teil. [1]"
    assert len(pieces) == 9  # word by word, as the server sent it


def test_a_kill_mid_answer_is_reported_in_german_and_the_process_comes_back(tmp_path):
    process = fake(tmp_path, "--delay", "0.3")
    gen = SupervisedGenerator(process)
    try:
        stream = gen.stream(MESSAGES, 50, 0.1)
        assert next(stream) == "Herr"
        first = process.current().pid
        os.kill(first, signal.SIGKILL)
        with pytest.raises(GenerationError, match="SIGKILL.*neu gestartet.*extraktiven Modus"):
            list(stream)
        wait_for(lambda: len(starts(tmp_path)) == 2)
        again = "".join(gen.stream(MESSAGES, 50, 0.1))
    finally:
        process.stop()
    assert again.startswith("Herr Kahlen") and process.current().pid != first
    assert process.restarts == 1


def test_sigill_names_the_cause_and_falls_back_to_the_portable_build(tmp_path):
    fast = tmp_path / "avx512"
    process = fake(tmp_path, "--on-request", "crash-sigill", lib_path=fast)
    try:
        with pytest.raises(GenerationError, match="SIGILL.*make llm"):
            list(SupervisedGenerator(process).stream(MESSAGES, 50, 0.1))
        wait_for(lambda: len(starts(tmp_path)) == 2)
    finally:
        process.stop()
    libs = [s["lib"] for s in starts(tmp_path)]
    assert libs == [str(fast), None]  # the restart runs without the AVX-512 libraries


def test_a_hang_is_cut_off_after_the_read_timeout_and_restarted(tmp_path):
    process = fake(tmp_path, "--on-request", "hang", read_timeout=1.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(GenerationError, match="1 s lang nichts"):
            list(SupervisedGenerator(process).stream(MESSAGES, 50, 0.1))
        assert time.monotonic() - t0 < 5
        wait_for(lambda: len(starts(tmp_path)) == 2)
    finally:
        process.stop()


def test_a_crash_at_every_question_stops_the_restarts_with_a_clear_message(tmp_path):
    process = fake(tmp_path, "--on-request", "crash-sigill", max_restarts=2)
    gen = SupervisedGenerator(process)
    try:
        for _ in range(3):
            with pytest.raises(GenerationError):
                list(gen.stream(MESSAGES, 50, 0.1))
        with pytest.raises(GenerationError, match="3-mal ausgefallen.*nicht mehr neu gestartet"):
            list(gen.stream(MESSAGES, 50, 0.1))
    finally:
        process.stop()
    assert len(starts(tmp_path)) == 3


def test_a_server_that_never_answers_is_reported(tmp_path):
    config = ServerConfig(tmp_path / "m.gguf", start_timeout=1.0,
                          command=[sys.executable, "-c", "import time; time.sleep(60)"])
    process = ModelProcess(config)
    try:
        with pytest.raises(GenerationError, match="antwortete 1 s nach dem Start nicht"):
            process.url(timeout=3.0)
    finally:
        process.stop()


def test_exit_descriptions_are_german_and_name_the_cause():
    assert "SIGILL" in describe_exit(-signal.SIGILL) and "make llm" in describe_exit(-4)
    assert "Speichermangel" in describe_exit(-signal.SIGKILL)
    assert "Exit-Code 3" in describe_exit(3)


def test_the_fast_build_is_chosen_only_where_the_cpu_has_every_flag(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.metadata.version", lambda name: "9.9")
    folder = tmp_path / "9.9-avx512"
    folder.mkdir()
    assert fast_library(tmp_path, FAST_FLAGS) is None  # the libraries are not there yet
    (folder / "libllama.so").write_bytes(b"")
    assert fast_library(tmp_path, FAST_FLAGS | {"avx2"}) == folder
    assert fast_library(tmp_path, FAST_FLAGS - {"avx512_bf16"}) is None


def test_the_app_answers_through_a_model_crash(tmp_path, corpus_copy, fake_embedder):
    """Killed mid-answer: that answer comes from the extractive mode with the reason, the
    extractive mode answers at once, and the llm mode again once the process is back."""
    process = fake(tmp_path, "--delay", "0.3")
    settings = make_settings(tmp_path, corpus_copy, answer_mode="llm")
    p = build_pipeline(settings, embedder=fake_embedder, generator=SupervisedGenerator(process))
    p.ingest(progress=False)
    try:
        process.url()
        victim = process.current().pid
        threading.Timer(0.5, os.kill, (victim, signal.SIGKILL)).start()
        crashed = p.ask(QUESTION, mode="llm")
        assert not crashed.refused and "Kahlen" in crashed.text
        assert "SIGKILL" in crashed.verification["generation_error"]
        assert crashed.verification["fallback"] == "Das Sprachmodell brach ab."
        from assistant.serve.present import format_answer
        from ui.app import references

        assert "Hinweis: Das Sprachmodell wurde beendet (SIGKILL" in references(crashed)
        assert "Hinweis: Das Sprachmodell wurde beendet (SIGKILL" in format_answer(crashed)
        t0 = time.monotonic()
        quick = p.ask(QUESTION, mode="extractive")
        assert time.monotonic() - t0 < 2 and "Kahlen" in quick.text
        again = p.ask(QUESTION, mode="llm")
    finally:
        p.close()  # the pipeline stops its model process
    assert again.verification["fallback"] is None and "Kahlen" in again.text
    assert process.current().pid != victim and not process.alive()


@pytest.mark.slow
def test_the_real_model_is_killed_mid_answer_and_restarted(tmp_path, real_pipeline, local_model):
    from assistant.answer.llm_answer import LlmAnswerer

    process = local_model.process
    llm = LlmAnswerer(local_model, real_pipeline.answerers["extractive"])
    hits = real_pipeline.retrieve(QUESTION)
    victim = process.current().pid
    stream = llm.stream(QUESTION, hits)
    threading.Timer(1.0, os.kill, (victim, signal.SIGKILL)).start()
    crashed = [part for part in stream][-1]
    assert "SIGKILL" in crashed.verification["generation_error"]
    assert "Kahlen" in crashed.text  # the extractive answer stood in
    quick = real_pipeline.ask(QUESTION, mode="extractive")
    assert "Kahlen" in quick.text
    again = llm.answer(QUESTION, hits)
    assert process.current().pid != victim and again.verification["fallback"] is None, again
    assert not again.refused and "[1]" in again.text


def test_the_model_server_gets_no_settings_from_the_environment(monkeypatch):
    from assistant.answer.model_process import child_env

    for name, value in {"PORT": "8765", "HOST": "0.0.0.0", "MODEL": "x.gguf", "API_KEY": "s",
                        "ASSISTANT_LLM": "llama-cpp", "LC_ALL": "de_DE.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    env = child_env()
    assert not {"PORT", "HOST", "MODEL", "API_KEY", "ASSISTANT_LLM"} & set(env)
    assert env["LC_ALL"] == "de_DE.UTF-8" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["PATH"] == os.environ["PATH"]
