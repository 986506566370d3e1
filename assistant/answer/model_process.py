"""The local language model in a process of its own, started and supervised by the app.

llama.cpp is native code: a build that does not fit the CPU dies with SIGILL, and a bug can hang
or crash it. Inside the web app's process that would take the app down with it. So the model
runs as llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), which the
`OpenAICompatGenerator` already speaks. `ModelProcess` starts it on a free loopback port, waits
until it answers, and restarts it in the background when it dies; `SupervisedGenerator` turns a
crash or a hang into a German `GenerationError`, so the llm mode falls back to the extractive
answer for that question and the app keeps answering.

Several app workers or machines share one model process: run `python -m assistant model-server`
once and point every worker at it with llm = "openai" (see README, "Mehrere Rechner").
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from assistant.answer.generation import GenerationError, Message, OpenAICompatGenerator

log = logging.getLogger(__name__)

MODEL_ALIAS = "local"  # the model name the server answers to
_PR_SET_PDEATHSIG = 1
# `make llm` builds llama.cpp twice, never with -march=native: a portable build (AVX2, FMA, F16C,
# BMI2: any x86-64 CPU since 2013) that pip installs, and an AVX-512 build (VNNI, VBMI, BF16;
# never AMX, which crashed a Xeon that reports it) whose libraries go to VARIANTS. It reads
# prompts 1.9x faster here (bench/llm_speed.py: 148 against 78 tokens/s). The supervisor picks
# it when the CPU has every one of FAST_FLAGS, and falls back to the portable build on SIGILL.
VARIANTS = Path("~/.cache/assistant/llama-cpp")
FAST_FLAGS = frozenset({"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni",
                        "avx512vbmi", "avx512_bf16"})


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags the kernel reports for this CPU (empty if unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def fast_library(variants: Path = VARIANTS, flags: frozenset[str] | None = None) -> Path | None:
    """The folder of the AVX-512 build of the installed llama-cpp-python, if this CPU runs it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        folder = variants.expanduser() / f"{version('llama-cpp-python')}-avx512"
    except PackageNotFoundError:
        return None
    if not (cpu_flags() if flags is None else flags) >= FAST_FLAGS:
        return None
    return folder if (folder / "libllama.so").is_file() else None


@dataclass(frozen=True)
class ServerConfig:
    """How to start the model server; `command` replaces llama_cpp.server (tests, other servers)."""

    model_path: Path
    threads: int = 2
    n_ctx: int = 4096
    n_batch: int = 512
    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port, chosen at each start
    start_timeout: float = 180.0  # loading 1.1 GB from a cold disk can take a while
    read_timeout: float = 60.0  # no token for this long = the model hangs
    max_restarts: int = 3  # within restart_window: then it stays down (a crash at every question)
    restart_window: float = 300.0
    log_file: Path | None = None
    lib_path: Path | None = None  # a llama.cpp build other than the installed one (LLAMA_CPP_LIB_PATH)
    command: Sequence[str] | None = field(default=None)

    def argv(self, port: int) -> list[str]:
        """The server's command line for `port`."""
        if self.command is not None:
            return [a.format(port=port, host=self.host, model=self.model_path) for a in self.command]
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
                "--model_alias", MODEL_ALIAS, "--host", self.host, "--port", str(port),
                "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
                "--n_ctx", str(self.n_ctx), "--n_batch", str(self.n_batch),
                "--n_gpu_layers", "0", "--verbose", "False",
                # measured here: prompt reading 172 -> 178 tokens/s, generation +9 %
                "--flash_attn", "True"]


# llama_cpp.server reads its settings from the environment too, unprefixed, and they beat its
# command line: `PORT=8765 make run` made the model server take the app's port. The child gets
# only what a process needs to run.
_ENV_KEPT = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TMPDIR", "TZ",
                       "VIRTUAL_ENV", "PYTHONPATH", "SYSTEMROOT"})


def child_env() -> dict[str, str]:
    """The model server's environment: the basics, locale and OpenMP, never settings."""
    env = {k: v for k, v in os.environ.items()
           if k in _ENV_KEPT or k.startswith(("LC_", "OMP_", "GOMP_"))}
    return env | {"OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def describe_exit(code: int) -> str:
    """A German account of how the model process ended (exit code or signal)."""
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if sig == signal.SIGILL:
            return ("Das Sprachmodell ist abgestürzt (SIGILL: ein Prozessorbefehl, den dieser "
                    "Rechner nicht kennt). llama-cpp-python wurde für einen anderen Prozessor "
                    "gebaut; bitte `make llm` auf diesem Rechner erneut ausführen.")
        if sig == signal.SIGKILL:
            return ("Das Sprachmodell wurde beendet (SIGKILL, z. B. wegen Speichermangels oder von "
                    "außen).")
        return f"Das Sprachmodell ist abgestürzt (Signal {name})."
    return f"Das Sprachmodell hat sich unerwartet beendet (Exit-Code {code})."


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the app dies, so no orphaned model keeps 1 GB of RAM."""
    with contextlib.suppress(OSError):  # not Linux: the app's atexit handler still stops it
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ModelProcess:
    """One supervised model server. `url()` is its base URL once it answers. One supervisor
    thread starts the server, waits until it answers, and restarts it when it dies (at most
    `max_restarts` times per `restart_window`). All starts come from that one long-lived thread:
    the child is told to die with the thread that started it (PR_SET_PDEATHSIG), so an app killed
    with SIGKILL leaves no orphaned model holding a gigabyte of RAM."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen | None = None
        self._port = 0
        self._ready = threading.Event()
        self._done = threading.Event()  # set when the supervisor gave up or was stopped
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_exit: str | None = None  # German description of the last failure
        self._killed_because: str | None = None  # set when the supervisor kills a hung server
        self.restarts = 0
        self._stopping = False

    def start(self, wait: bool = False) -> None:
        """Start supervising (if not yet) and, with `wait`, block until the server answers."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._supervise, daemon=True,
                                                name="model-process")
                self._thread.start()
        if wait:
            self.url()

    def _supervise(self) -> None:
        starts: list[float] = []
        while not self._stopping:
            now = time.monotonic()
            starts = [t for t in starts if now - t < self.config.restart_window]
            if len(starts) > self.config.max_restarts:
                self.last_exit = (
                    f"{self.last_exit or 'Das Sprachmodell startet nicht.'} Es ist in "
                    f"{self.config.restart_window / 60:.0f} Minuten {len(starts)}-mal ausgefallen "
                    "und wird nicht mehr neu gestartet; der extraktive Modus antwortet weiter.")
                log.error("%s", self.last_exit)
                break
            if starts:
                self.restarts += 1
            starts.append(now)
            try:
                proc = self._spawn()
            except OSError as e:
                self.last_exit = f"Der Sprachmodell-Prozess ließ sich nicht starten: {e}"
                log.error("%s", self.last_exit)
                break
            self._await_ready(proc)
            code = proc.wait()
            self._ready.clear()
            if self._stopping:
                break
            self.last_exit = self._killed_because or describe_exit(code)
            self._killed_because = None
            if code == -signal.SIGILL and self.config.lib_path is not None:
                log.warning("Der AVX-512-Build von llama.cpp läuft auf diesem Prozessor nicht "
                            "(%s); weiter mit dem portablen Build.", self.config.lib_path)
                self.config = replace(self.config, lib_path=None)
            log.warning("%s Neustart …", self.last_exit)
        self._done.set()

    def _spawn(self) -> subprocess.Popen:
        self._port = self.config.port or free_port(self.config.host)
        # libgomp's idle workers spin by default: with 2 threads on 2 cores and any other busy
        # process, generation fell from 8.4 to 0.5-0.8 tokens/s; passive waiting kept 8.4.
        env = child_env()
        if self.config.lib_path is not None:
            env["LLAMA_CPP_LIB_PATH"] = str(self.config.lib_path)
        log_file = self.config.log_file or Path(os.devnull)
        with open(log_file, "ab") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                self.config.argv(self._port), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._proc = proc
        log.info("Sprachmodell-Prozess %s gestartet (Port %s)", proc.pid, self._port)
        return proc

    def _await_ready(self, proc: subprocess.Popen) -> None:
        """Poll /v1/models until it answers; kill a server that never does (a hang at load)."""
        base = f"http://{self.config.host}:{self._port}/v1"
        deadline = time.monotonic() + self.config.start_timeout
        while proc.poll() is None and not self._stopping:
            if time.monotonic() > deadline:
                self._killed_because = (f"Das Sprachmodell antwortete "
                                        f"{self.config.start_timeout:.0f} s nach dem Start nicht.")
                proc.kill()
                return
            try:
                if httpx.get(base + "/models", timeout=2.0).status_code == 200:
                    self._ready.set()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    def url(self, timeout: float | None = None) -> str:
        """The base URL (…/v1) of the running server; waits for a (re)start to finish."""
        self.start()
        deadline = time.monotonic() + (self.config.start_timeout if timeout is None else timeout)
        while not self._ready.wait(0.1):
            if self._done.is_set() or time.monotonic() > deadline:
                raise GenerationError(self.last_exit or "Das Sprachmodell ist noch nicht bereit.")
        return f"http://{self.config.host}:{self._port}/v1"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def current(self) -> subprocess.Popen | None:
        """The server process of this moment (a restart replaces it)."""
        return self._proc

    def kill(self) -> None:
        """Kill the server (a hang); the supervisor restarts it."""
        if self.alive():
            self._killed_because = "Das Sprachmodell hing und wurde neu gestartet."
            self._proc.kill()

    def stop(self) -> None:
        """Stop the server for good (app shutdown)."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._done.set()


class SupervisedGenerator:
    """The Generator over a `ModelProcess`: a crash or a hang mid-answer becomes a German
    GenerationError (the llm mode then answers extractively) and the process is restarted."""

    def __init__(self, process: ModelProcess, repeat_penalty: float = 1.1) -> None:
        self.process = process
        self.name = f"llama.cpp-server:{Path(process.config.model_path).name}"
        self.warmed: threading.Event | None = None  # set once a warm-up has read the system prompt
        # min_tokens 1: at temperature 0 the end token can be the likeliest first token, and
        # the model then says nothing ("Wer nahm am 13. Juni 2016 teil?" with the seed page)
        self._extra = {"repeat_penalty": repeat_penalty, "top_p": 0.9, "min_tokens": 1}
        self._client: OpenAICompatGenerator | None = None  # for the server's current address

    def _client_for(self, base: str) -> OpenAICompatGenerator:
        """One pooled HTTP client per server address (a restart picks a new port)."""
        if self._client is None or not self._client.url.startswith(base + "/"):
            if self._client is not None:
                self._client.close()
            self._client = OpenAICompatGenerator(
                base, MODEL_ALIAS, timeout=self.process.config.read_timeout,
                frequency_penalty=0.0, extra=self._extra)
        return self._client

    def close(self) -> None:
        """Stop the model process (the pipeline is done with it)."""
        if self._client is not None:
            self._client.close()
        self.process.stop()

    def wait_ready(self) -> None:
        """Wait until the model process can answer (it may be starting or restarting)."""
        self.process.url()

    def stream(self, messages: list[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        """The server's answer pieces; German errors when it is down, crashes or hangs."""
        base = self.process.url()
        proc = self.process.current()
        client = self._client_for(base)
        try:
            yield from client.stream(messages, max_tokens, temperature)
        except GenerationError as e:
            try:  # a dying process: wait a moment for its exit status, to name the cause
                code = proc.wait(1.0) if proc is not None else None
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:
                raise GenerationError(
                    f"{describe_exit(code)} Es wird neu gestartet; diese Antwort kommt aus dem "
                    "extraktiven Modus.") from e
            if isinstance(e.__cause__, httpx.TimeoutException):
                self.process.kill()
                raise GenerationError(
                    f"Das Sprachmodell schrieb {self.process.config.read_timeout:.0f} s lang "
                    "nichts und wird neu gestartet; diese Antwort kommt aus dem extraktiven "
                    "Modus.") from e
            raise


def server_config(settings) -> ServerConfig:
    """The model server as the settings describe it (the packaged model unless one is named)."""
    from assistant.answer.modelfile import resolve_model

    path = resolve_model(settings.llm_model_path, settings.llm_cache_dir)
    log_file = Path(settings.llm_cache_dir).expanduser() / "model-server.log"
    return ServerConfig(path, threads=settings.llm_threads, n_ctx=settings.llm_ctx,
                        n_batch=settings.llm_batch, log_file=log_file, lib_path=fast_library())


# A prompt of several hundred tokens: a -march=native build that does not fit the CPU loads the
# model fine and dies with SIGILL only on the first batch of prompt tokens.
_SMOKE_PASSAGE = (
    "Am 13. Juni 2016 fand in Berlin ein Gespräch auf Führungsebene statt. Teilnehmer waren "
    "Staatssekretär Klaus Vitt, Staatsrat Dr. Hans-Henning Lühr, Verbandsdirektor Ralph "
    "Schlusche und Ministerialdirigent Dr. Andreas Kahlen. ")


def smoke(config: ServerConfig) -> tuple[bool, str]:
    """Start the server, let it read a prompt of about 500 tokens and answer; (ok, German report).
    An AVX-512 build that dies with SIGILL here is removed, and the portable build is tried."""
    ok, report = _smoke_once(config)
    if not ok and config.lib_path is not None and "SIGILL" in report:
        import shutil

        shutil.rmtree(config.lib_path, ignore_errors=True)
        ok, report = _smoke_once(replace(config, lib_path=None))
        report = f"Der AVX-512-Build läuft hier nicht und wurde entfernt. {report}"
    return ok, report


def _smoke_once(config: ServerConfig) -> tuple[bool, str]:
    process = ModelProcess(replace(config, max_restarts=0))
    started = time.monotonic()
    try:
        process.start(wait=True)
        loaded = time.monotonic() - started
        messages = [{"role": "user", "content": _SMOKE_PASSAGE * 8 +
                     "\nFrage: Wer war Staatssekretär? Antworte mit dem Namen."}]
        t0 = time.monotonic()
        text = "".join(SupervisedGenerator(process).stream(messages, 24, 0.0))
        answered = time.monotonic() - t0
    except GenerationError as e:
        proc = process.current()
        code = proc.poll() if proc is not None else None
        return False, describe_exit(code) if code is not None else str(e)
    finally:
        process.stop()
    if "Vitt" not in text:
        return False, f"Das Sprachmodell läuft, antwortete aber unerwartet: {text!r}"
    build = f"AVX-512-Build ({config.lib_path})" if config.lib_path else "portabler Build (AVX2)"
    return True, (f"Sprachmodell geprüft ({build}): geladen in {loaded:.1f} s, ein Prompt von etwa "
                  f"500 Tokens beantwortet in {answered:.1f} s ({text.strip()!r}).")


def main(argv: list[str] | None = None) -> int:
    """`python -m assistant.answer.model_process --smoke` (used by `make llm`), or run the model server
    in the foreground, supervised, for several app workers (`python -m assistant model-server`)."""
    import argparse

    from assistant.settings import Settings

    ap = argparse.ArgumentParser(prog="python -m assistant.answer.model_process")
    ap.add_argument("--smoke", action="store_true", help="prüfen, ob das Modell hier läuft")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    config = server_config(Settings())
    if args.smoke:
        ok, report = smoke(config)
        print(report, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    process = ModelProcess(replace(config, host=args.host, port=args.port, log_file=None,
                                   max_restarts=10**9))
    process.start(wait=True)
    print(f"Sprachmodell bereit: http://{args.host}:{args.port}/v1 (Modell „{MODEL_ALIAS}“). "
          "App-Prozesse: ASSISTANT_LLM=openai, ASSISTANT_OPENAI_BASE_URL=http://"
          f"{args.host}:{args.port}/v1, ASSISTANT_OPENAI_MODEL={MODEL_ALIAS}", flush=True)
    try:
        while True:
            time.sleep(1)
            if not process.alive():
                process.url()  # waits for the supervisor's restart
    except KeyboardInterrupt:
        return 0
    finally:
        process.stop()


if __name__ == "__main__":
    raise SystemExit(main())
