"""Benchmark (performance, part 4): the web server's start-up time and memory, per answer mode.

Starts `python -m assistant serve --port N` on 127.0.0.1 over an index (by default a fresh one of
corpus/, ingested first; --index DIR for another, e.g. the 100k index perf_query.py leaves in
bench/out/query-index), polls /api/health (the process answers) and /api/ready (the index is
open), then reads VmRSS of the process and its children from /proc; asks one question and reads
it again. --llm adds the mode with the local model (ASSISTANT_LLM=llama-cpp, loaded at start-up).

Usage: python bench/perf_server.py [--index DIR] [--llm]
Writes perf_server.json/.md/.png to --out (default bench/out/).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

QUESTION = "Wer nahm am 13. Juni 2016 teil?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def get(url: str, data: dict | None = None, timeout: float = 5.0, into: dict | None = None) -> int:
    """HTTP status of a GET (or a JSON POST); 0 when nobody answers. `into` gets the JSON body."""
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            if into is not None:
                into.update(json.loads(r.read()))
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def run_server(index: Path, mode: str, timeout: float) -> dict:
    """Start, wait for health and readiness, measure, ask once, measure, stop."""
    port = free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    if mode == "llm":
        env |= {"ASSISTANT_LLM": "llama-cpp", "ASSISTANT_ANSWER_MODE": "llm"}
    base = f"http://127.0.0.1:{port}"
    load = common.loadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port),
                             "--index", str(index)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    row: dict = {"mode": mode, "index": str(index), "loadavg": load}
    try:
        while "health_s" not in row or "ready_s" not in row:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-800:]}")
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"server not ready after {timeout} s")
            if "health_s" not in row and get(f"{base}/api/health") == 200:
                row["health_s"] = time.perf_counter() - t0
            if "health_s" in row and get(f"{base}/api/ready", into=row.setdefault("status", {})) == 200:
                row["ready_s"] = time.perf_counter() - t0
            time.sleep(0.05)
        row["rss_ready_mb"] = rss_mb(proc.pid)
        t = time.perf_counter()
        row["ask_status"] = get(f"{base}/api/ask", {"question": QUESTION, "mode": mode}, timeout=600)
        row["first_ask_s"] = time.perf_counter() - t
        row["rss_after_ask_mb"] = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return row


def corpus_index() -> Path:
    """A fresh index of corpus/ in a temporary folder (the shipped documents)."""
    index = Path(tempfile.mkdtemp(prefix="perf-server-")) / "index"
    subprocess.run([sys.executable, "-m", "assistant", "ingest", "--index", str(index), "--quiet"],
                   cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1"}, check=True,
                   capture_output=True)
    return index


def chart(rows: list[dict], path: Path) -> None:
    plt = common.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 2.8))
    labels = [f"{r['mode']}, {r['status']['chunks']:,} Abschnitte" for r in rows]
    a.barh(labels, [r["ready_s"] for r in rows])
    a.set_xlabel("Start bis bereit, s")
    b.barh(labels, [r["rss_after_ask_mb"] for r in rows])
    b.set_xlabel("RSS nach erster Antwort, MB")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, action="append", default=[],
                    help="index folder(s) to serve (default: a fresh index of corpus/)")
    ap.add_argument("--llm", action="store_true", help="also the mode with the local model")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--quick", action="store_true", help="accepted for perf_all; changes nothing")
    ap.add_argument("--out", type=Path, default=common.OUT)
    args = ap.parse_args()
    indexes = [("corpus/", corpus_index())] + [(i.name, i) for i in args.index if i.is_dir()]
    rows = []
    for label, index in indexes:
        for mode in ["extractive"] + (["llm"] if args.llm else []):
            print(f"{mode}, {label} …", file=sys.stderr)
            rows.append(run_server(index, mode, args.timeout) | {"label": label})
    text = common.table(
        ["mode", "index (chunks)", "health s", "ready s", "RSS ready MB", "first /api/ask s",
         "RSS after it MB", "load 1 min"],
        [[r["mode"], f"{r['label']} ({r['status']['chunks']:,})", f"{r['health_s']:.1f}",
          f"{r['ready_s']:.1f}",
          f"{r['rss_ready_mb']:.0f}", f"{r['first_ask_s']:.2f} ({r['ask_status']})",
          f"{r['rss_after_ask_mb']:.0f}", r["loadavg"][0]] for r in rows])
    print(text)
    common.save(args.out, "perf_server", {"rows": rows}, text)
    chart(rows, args.out / "perf_server.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
