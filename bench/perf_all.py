"""All performance benchmarks from one command (also `make bench`): ingest and re-ingest of the
513-page book, query latency at 1k/10k/100k chunks, and the server's start-up and memory.

Each runs in its own process (so memory and thread settings do not leak between them) and writes
its JSON, Markdown table and PNG chart to --out; this script prints the tables together and writes
<out>/perf_all.md. --quick: 40 pages, 1k/5k chunks, 20 questions (a few minutes on 2 idle cores;
the full run takes about an hour there, most of it embedding the book three times).

Usage: python bench/perf_all.py [--quick] [--llm] [--out DIR] [--shared DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--llm", action="store_true", help="also the local model (slow: minutes per answer)")
    ap.add_argument("--out", type=Path, default=common.OUT)
    ap.add_argument("--shared", type=Path, default=common.SHARED)
    args = ap.parse_args()
    base = ["--out", str(args.out)] + (["--quick"] if args.quick else [])
    shared = ["--shared", str(args.shared)]
    llm = ["--llm"] if args.llm else []
    steps = [("perf_ingest", base + shared), ("perf_query", base + shared + llm),
             ("perf_server", base + llm + ["--index", str(args.out / "query-index")])]
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    parts, failed = [], []
    for name, extra in steps:
        print(f"== {name} (load {common.loadavg()}) ==", file=sys.stderr, flush=True)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *extra], cwd=ROOT, env=env)
        secs = time.perf_counter() - t
        if r.returncode:
            failed.append(name)
            continue
        table = (args.out / f"{name}.md").read_text()
        parts.append(f"## {name} ({secs / 60:.1f} min)\n\n{table}")
    text = "\n".join(parts)
    (args.out / "perf_all.md").write_text(text)
    print("\n" + text)
    if failed:
        print(f"Fehlgeschlagen: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
