"""Benchmark: the llm mode as a user meets it, through the supervised model process.

Measures, on the seed corpus (indexed into a temporary folder unless --index is given):
- model load time (process start until the server answers);
- prompt reading in tokens/s: prompts of about 300 and 600 tokens that share no prefix with
  anything cached, answered with a single token (time minus one token's generation);
- per question, warm (the system prompt is cached from the question before): the time to the
  first verified sentence, the whole answer, the prompt's size, and whether the model's words
  survived verification (or the extractive answer stood in).
Prints tables, writes bench/out/llm_speed.json and bench/out/llm_speed.png.
Usage: python bench/llm_speed.py [--model FILE.gguf] [--threads 2] [--batch 512] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer.model_process import (  # noqa: E402
    MODEL_ALIAS,
    ModelProcess,
    ServerConfig,
    SupervisedGenerator,
    fast_library,
)
from assistant.answer.modelfile import resolve_model  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.types import Answer  # noqa: E402

QUESTIONS = [
    "Wer nahm am 13. Juni 2016 an dem Gespräch auf Führungsebene teil?",
    "Welche Erprobungsräume arbeiten mit den Modellkommunen zusammen?",
    "Worum geht es im Pilotprojekt Modellkommune E-Government?",
    "Was wurde bei dem Treffen in Berlin vereinbart?",
    "Wie arbeiten die Erprobungsräume zusammen?",
    "Welche Landkreise waren Modellkommunen?",
]
_FILLER = ("Die Verwaltung der Stadt prüft jeden Antrag sorgfältig und antwortet innerhalb von "
           "vier Wochen schriftlich. ")


def prefill_rate(base: str, words: int, nonce: int) -> dict:
    """Tokens/s for reading a fresh prompt of about `words` words (one token generated)."""
    text = f"Vorgang {nonce}: " + _FILLER * max(1, words // 14)
    body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": text}],
            "max_tokens": 1, "temperature": 0.0}
    t0 = time.perf_counter()
    r = httpx.post(base + "/chat/completions", json=body, timeout=300).json()
    seconds = time.perf_counter() - t0
    n = r["usage"]["prompt_tokens"]
    return {"prompt_tokens": n, "seconds": round(seconds, 3), "tok_s": round(n / seconds, 1)}


def timed_answer(pipeline, question: str) -> dict:
    """One llm-mode answer through the pipeline: first verified piece, total, fallback."""
    t0 = time.perf_counter()
    _, parts = pipeline.stream_with_hits(question, (), "llm")
    first = None
    answer = None
    for part in parts:
        if isinstance(part, Answer):
            answer = part
        elif first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    v = answer.verification or {}
    return {"question": question, "first_s": round(first if first is not None else total, 2),
            "total_s": round(total, 2), "refused": answer.refused,
            "fallback": v.get("fallback"), "prompt_tokens": v.get("prompt_tokens"),
            "answer": answer.text}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None, help="GGUF file; default: packaged Qwen")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--budget", type=int, default=None,
                    help="token budget for the sources (default: the setting llm_budget_tokens)")
    ap.add_argument("--portable", action="store_true",
                    help="the portable build even where the AVX-512 build runs (as the app does)")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the questions")
    ap.add_argument("--index", type=Path, default=None, help="index folder (default: temporary)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    settings = Settings(corpus_dir=ROOT / "corpus",
                        index_dir=args.index or Path(tempfile.mkdtemp(prefix="llm-bench-")),
                        **({"llm_budget_tokens": args.budget} if args.budget else {}))
    model = resolve_model(args.model, settings.llm_cache_dir)
    process = ModelProcess(ServerConfig(model, threads=args.threads, n_batch=args.batch,
                                        lib_path=None if args.portable else fast_library()))
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    process.start(wait=True)
    load_s = time.perf_counter() - t0
    # after the start: an AVX-512 build that dies with SIGILL is replaced by the portable one
    build = "AVX-512" if process.config.lib_path else "portabel"
    try:
        base = process.url()
        for w in (50, 400):  # warm-up: the first requests allocate buffers (117 tok/s, then 172)
            prefill_rate(base, w, -w)
        prefill = [prefill_rate(base, w, i + 1) for i, w in enumerate((200, 400, 200, 400))]
        pipeline = build_pipeline(settings, generator=SupervisedGenerator(process))
        if pipeline.store.count() == 0:
            pipeline.ingest(progress=False)
        timed_answer(pipeline, "Worum geht es?")  # the system prompt is now cached
        rows = [timed_answer(pipeline, q) for _ in range(args.rounds) for q in QUESTIONS]
    finally:
        process.stop()

    load_after = os.getloadavg()[0]
    print(f"\nModell: {model.name} ({model.stat().st_size / 1e9:.2f} GB), {args.threads} Threads, "
          f"n_batch {args.batch}, Build {build}, Quellen-Budget {settings.llm_budget_tokens} Tokens, "
          f"{platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} Kerne; Systemlast (1 min) vorher {load_before:.1f}, nachher "
          f"{load_after:.1f}")
    print(f"Laden (Prozessstart bis Antwortbereitschaft): {load_s:.2f} s\n")
    print("| Prompt-Tokens | Sekunden | Prompt lesen tok/s |\n|---|---|---|")
    for p in prefill:
        print(f"| {p['prompt_tokens']} | {p['seconds']:.2f} | {p['tok_s']:.1f} |")
    print("\n| Frage | Prompt-Tokens (geschätzt) | erster geprüfter Satz s | ganze Antwort s | Ersatz |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['question'][:50]} | {r['prompt_tokens']} | {r['first_s']:.2f} | "
              f"{r['total_s']:.2f} | {'ja' if r['fallback'] else 'nein'} |")
    answered = [r for r in rows if not r["refused"]]
    first = sorted(r["first_s"] for r in answered)
    total = sorted(r["total_s"] for r in answered)
    summary = {"load_s": round(load_s, 2),
               "prefill_tok_s": round(sum(p["tok_s"] for p in prefill) / len(prefill), 1),
               "first_verified_median_s": med(first), "first_verified_max_s": max(first or [0]),
               "total_median_s": med(total), "total_max_s": max(total or [0]),
               "fallback_share": round(sum(bool(r["fallback"]) for r in answered)
                                       / max(len(answered), 1), 2)}
    print(f"\nMedian: erster geprüfter Satz {summary['first_verified_median_s']:.2f} s, ganze "
          f"Antwort {summary['total_median_s']:.2f} s; Prompt lesen "
          f"{summary['prefill_tok_s']:.1f} tok/s; extraktiver Ersatz "
          f"{summary['fallback_share']:.0%} der Antworten")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {"model": model.name, "model_bytes": model.stat().st_size, "threads": args.threads,
              "n_batch": args.batch, "build": build, "budget_tokens": settings.llm_budget_tokens,
              "cpu_count": os.cpu_count(), "cpu": _cpu_name(),
              "loadavg_before": round(load_before, 2), "loadavg_after": round(load_after, 2),
              "summary": summary, "prefill": prefill, "answers": rows}
    (args.out / "llm_speed.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    _chart(rows, args.out / "llm_speed.png")
    print(f"geschrieben: {args.out / 'llm_speed.json'}, {args.out / 'llm_speed.png'}")
    return 0


def med(xs: list[float]) -> float:
    return xs[len(xs) // 2] if xs else float("nan")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["first_s"] for r in rows], 0.4, label="erster geprüfter Satz")
    ax.bar([x + 0.2 for x in xs], [r["total_s"] for r in rows], 0.4, label="ganze Antwort")
    ax.axhline(3, color="grey", linestyle="--", linewidth=0.8)
    ax.axhline(10, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("Frage (warm)")
    ax.set_ylabel("Sekunden")
    ax.set_title("Modus llm über den Modellprozess")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
