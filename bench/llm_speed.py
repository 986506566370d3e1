"""Benchmark: the local llama.cpp generator on a typical RAG prompt (5 passages of the seed corpus).

Prints model load time, time to first token, and tokens/s for reading the prompt and for
generating, for a cold prompt (empty KV cache) and a warm one (the fixed system prompt is still
cached from the previous question, as in a running assistant). Token counts and the split between
prompt and generation time come from llama.cpp's own performance counters.
Writes bench/out/llm_speed.json.
Usage: python bench/llm_speed.py [--model FILE.gguf] [--threads 2] [--runs 3] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as LlamaCppGenerator does; before the import
import llama_cpp  # noqa: E402

from assistant.chunking import chunk  # noqa: E402
from assistant.corpus import load_document  # noqa: E402
from assistant.generation import LlamaCppGenerator, build_messages  # noqa: E402
from assistant.modelfile import resolve_model  # noqa: E402

QUESTIONS = [
    "Wer nahm am 13. Juni 2016 an dem Gespräch auf Führungsebene teil?",
    "Welche Erprobungsräume arbeiten mit den Modellkommunen zusammen?",
    "Worum geht es im Pilotprojekt Modellkommune E-Government?",
    "Was wurde bei dem Treffen in Berlin vereinbart?",
    "Wie arbeiten die Erprobungsräume zusammen?",
    "Welche Themen standen auf der Tagesordnung?",
]


def passages(k: int = 5) -> list[str]:
    """The seed corpus chunked as the index does (600 characters); all of them, rotated per run."""
    doc = load_document(ROOT / "corpus" / "kooperation-der-erprobungsraeume.txt").doc
    texts = [c.text for c in chunk(doc, 600)]
    return texts if len(texts) >= k else (texts * k)[:k]


def perf(gen: LlamaCppGenerator) -> llama_cpp.llama_perf_context_data:
    return llama_cpp.llama_perf_context(gen._llm._ctx.ctx)  # bench only: llama.cpp's counters


def run_once(gen: LlamaCppGenerator, question: str, texts: list[str], max_tokens: int,
             cold: bool) -> dict:
    """One streamed answer; its timings from the wall clock and llama.cpp's counters."""
    if cold:
        gen._llm.reset()  # forget the KV cache: the whole prompt is read again
    llama_cpp.llama_perf_context_reset(gen._llm._ctx.ctx)
    msgs = build_messages(question, texts, budget_tokens=1200, count_tokens=gen.count_tokens)
    t0 = time.perf_counter()
    first = None
    pieces = []
    for piece in gen.stream(msgs, max_tokens=max_tokens, temperature=0.1):
        first = first if first is not None else time.perf_counter() - t0
        pieces.append(piece)
    total = time.perf_counter() - t0
    p = perf(gen)
    return {"cold": cold, "question": question, "ttft_s": round(first or total, 3),
            "total_s": round(total, 3), "prompt_tokens_read": p.n_p_eval,
            "prompt_tok_s": round(p.n_p_eval / (p.t_p_eval_ms / 1000), 1) if p.t_p_eval_ms else None,
            "gen_tokens": p.n_eval,
            "gen_tok_s": round(p.n_eval / (p.t_eval_ms / 1000), 1) if p.t_eval_ms else None,
            "answer": "".join(pieces)}


def mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r[key] is not None]
    return round(sum(vals) / len(vals), 2) if vals else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None, help="GGUF file; default: packaged Qwen")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "assistant" / "models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()

    model = resolve_model(args.model, args.cache)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    gen = LlamaCppGenerator(model, n_threads=args.threads, n_ctx=args.n_ctx)
    load_s = time.perf_counter() - t0
    texts = passages()
    rows = []
    for i in range(args.runs * 2):
        rotated = texts[i % len(texts):] + texts[: i % len(texts)]
        rows.append(run_once(gen, QUESTIONS[i % len(QUESTIONS)], rotated[:5], args.max_tokens,
                             cold=i % 2 == 0))
        r = rows[-1]
        print(f"  Lauf {i + 1}: {'kalt' if r['cold'] else 'warm'}  TTFT {r['ttft_s']:.2f} s, "
              f"{r['gen_tokens']} Tokens", file=sys.stderr)

    print(f"\nModell: {model.name} ({model.stat().st_size / 1e9:.2f} GB), {args.threads} Threads, "
          f"llama-cpp-python {llama_cpp.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} Kerne")
    load_after = os.getloadavg()[0]
    print(f"Laden: {load_s:.2f} s · Systemlast (1 min) vorher {load_before:.1f}, nachher "
          f"{load_after:.1f} auf {os.cpu_count()} Kernen: über der Kernzahl sind die Zahlen gebremst\n")
    print("| Prompt | Prompt-Tokens gelesen | TTFT s | Prompt tok/s | erzeugte Tokens | Erzeugen tok/s |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for label, cold in (("kalt (KV-Cache leer)", True), ("warm (Systemprompt im Cache)", False)):
        sel = [r for r in rows if r["cold"] == cold]
        s = {k: mean(sel, k) for k in ("prompt_tokens_read", "ttft_s", "prompt_tok_s",
                                       "gen_tokens", "gen_tok_s")}
        summary["cold" if cold else "warm"] = s
        print(f"| {label} | {s['prompt_tokens_read']:.0f} | {s['ttft_s']:.2f} | {s['prompt_tok_s']:.1f} | "
              f"{s['gen_tokens']:.0f} | {s['gen_tok_s']:.1f} |")
    print(f"\nBeispielantwort: {rows[0]['answer']!r}")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {"model": model.name, "model_bytes": model.stat().st_size, "threads": args.threads,
              "n_ctx": args.n_ctx, "max_tokens": args.max_tokens, "passages": 5,
              "llama_cpp_python": llama_cpp.__version__, "cpu_count": os.cpu_count(),
              "loadavg_before": round(load_before, 2), "loadavg_after": round(load_after, 2),
              "load_s": round(load_s, 2), "summary": summary, "runs": rows,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    (args.out / "llm_speed.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"geschrieben: {args.out / 'llm_speed.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
