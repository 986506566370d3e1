"""Answer quality on XQuAD-de, extractive vs LLM mode, on a fixed random sample of questions.

    python bench/answer_bench.py [--sample 40] [--seed 7] [--minutes 20] [--out bench/out]

Indexes the 240 German paragraphs once (kept in OUT/answer-index, so a rerun only re-checks
hashes), draws a seeded sample of the 912 questions and asks each in both modes with the
configured local model (default: the packaged Qwen2.5-Coder-1.5B GGUF). It stops starting new
questions after --minutes and says how many it did. Prints a table, writes answers.json and
answers.png. Metrics: the gold span contained in the answer, token F1 against the gold spans,
refusals, time to the first streamed text and to the whole answer; for the LLM mode also how
often its answer was supplemented with extractive evidence, fell back to the extractive answer,
or had sentences removed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.evaluate.scoring import token_f1  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from bench.common import OUT, SHARED, shared_xquad, write_paragraphs  # noqa: E402

MODES = ("extractive", "llm")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--sample", type=int, default=40, help="questions drawn (seeded)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--minutes", type=float, default=20.0, help="time budget for asking")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    xquad = shared_xquad(args.shared)
    if xquad is None:
        return 2
    paragraphs, questions = xquad
    sample = random.Random(args.seed).sample(questions, args.sample)
    docs = write_paragraphs(paragraphs)
    settings = Settings(corpus_dir=docs, index_dir=args.out / "answer-index",
                        llm=os.environ.get("ASSISTANT_LLM", "llama-cpp"))
    p = build_pipeline(settings)
    p.ingest([docs], progress=False)
    p.ask(questions[0][0], mode="llm")  # model load and system-prompt cache, not counted
    rows = {m: [] for m in MODES}
    deadline = time.monotonic() + 60 * args.minutes
    for i, (question, _, golds) in enumerate(sample):
        if time.monotonic() > deadline:
            print(f"Zeitbudget erreicht nach {i} von {len(sample)} Fragen.", file=sys.stderr)
            break
        for mode in MODES:
            t = time.perf_counter()
            first = None
            for piece in p.stream(question, mode=mode):  # as the web app and API stream it
                if first is None:
                    first = time.perf_counter() - t  # the first verified text a user sees
                a = piece
            secs = time.perf_counter() - t
            text = "" if a.refused else a.text
            v = a.verification or {}
            rows[mode].append({
                "question": question, "golds": golds, "answer": a.text, "refused": a.refused,
                "contained": any(g.lower() in text.lower() for g in golds),
                "f1": max(token_f1(text, g) for g in golds), "seconds": secs, "first_s": first,
                "supplemented": bool(v.get("supplemented")), "fallback": bool(v.get("fallback")),
                "removed": v.get("removed", 0)})
        print(f"{i + 1}/{len(sample)}", file=sys.stderr, flush=True)
    summary = {m: _summary(r) for m, r in rows.items()}
    _print(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "answers.json").write_text(json.dumps(
        {"sample": args.sample, "seed": args.seed, "load_avg": os.getloadavg(),
         "summary": summary, "answers": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    _chart(summary, args.out / "answers.png")
    return 0


def _summary(rows: list[dict]) -> dict:
    n = len(rows) or 1
    secs = sorted(r["seconds"] for r in rows) or [0.0]
    return {"questions": len(rows),
            "contained": sum(r["contained"] for r in rows) / n,
            "token_f1": sum(r["f1"] for r in rows) / n,
            "refused": sum(r["refused"] for r in rows) / n,
            "supplemented": sum(r["supplemented"] for r in rows) / n,
            "fallback": sum(r["fallback"] for r in rows) / n,
            "sentences_removed": sum(r["removed"] for r in rows),
            "p50_s": statistics.median(secs), "p95_s": secs[int(0.95 * (len(secs) - 1))],
            "first_p50_s": statistics.median([r["first_s"] or 0.0 for r in rows] or [0.0])}


def _print(summary: dict) -> None:
    print("| mode | questions | gold span contained | token F1 | refused | supplemented | "
          "fallback | sentences removed | first text p50 s | total p50 / p95 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, s in summary.items():
        print(f"| {mode} | {s['questions']} | {s['contained']:.3f} | {s['token_f1']:.3f} | "
              f"{s['refused']:.3f} | {s['supplemented']:.3f} | {s['fallback']:.3f} | "
              f"{s['sentences_removed']} | {s['first_p50_s']:.1f} | {s['p50_s']:.1f} / {s['p95_s']:.1f} |")


def _chart(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("contained", "token_f1", "refused")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.38
    for i, (mode, s) in enumerate(summary.items()):
        ax.bar([k + i * width for k in range(len(keys))], [s[k] for k in keys], width, label=mode)
    ax.set_xticks([k + width / 2 for k in range(len(keys))], keys)
    ax.set_ylim(0, 1)
    ax.set_title(f"XQuAD-de, {next(iter(summary.values()))['questions']} Fragen")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
