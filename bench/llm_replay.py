"""Replay the model answers of an llm-mode eval through the current code, without the model.

`python -m assistant eval --mode llm --out DIR` stores what the model wrote for each question
(`verification.model_answer` in DIR/answers.jsonl). This script feeds those words back as the
model's stream, so a change to verification, supplements or fallbacks is measured in a minute,
on exactly the same model output, instead of a 25-minute run whose timing varies. (A prompt
change still needs the real model: the replay keeps the old words.)

Only the tuning parts are replayed unless --held-out is given: choices are made on them.
Prints passed / extractive stand-ins per set and the questions whose verdict changed.
Usage: python bench/llm_replay.py DIR [--held-out] [--changed]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataclasses import replace  # noqa: E402

from assistant.answer.llm_answer import LlmAnswerer  # noqa: E402
from assistant.evaluate.question_sets import load_items  # noqa: E402
from assistant.evaluate.runner import replace_settings, shipped_sets  # noqa: E402
from assistant.evaluate.scoring import evaluate, metrics  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from bench.common import table  # noqa: E402


class Replay:
    """A generator that writes, word by word, what the model wrote before."""

    said = ""

    def stream(self, messages, max_tokens, temperature):
        yield from re.findall(r"\S+\s*|\s+", self.said)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval_dir", type=Path, help="the --out folder of an `eval --mode llm` run")
    ap.add_argument("--held-out", action="store_true", help="also the held-out parts")
    ap.add_argument("--changed", action="store_true", help="list the questions whose verdict changed")
    args = ap.parse_args()
    stored = {(r["set"], r["question"]): r
              for r in map(json.loads, (args.eval_dir / "answers.jsonl").open(encoding="utf-8"))}
    gen, rows = Replay(), []
    for qs in shipped_sets():
        settings = replace_settings(Settings(), index_dir=args.eval_dir / "index" / qs.name)
        pipeline = build_pipeline(settings)
        llm = LlmAnswerer.from_settings(gen, pipeline.answerers["extractive"], settings,
                                        answer_seconds=0)  # the stored words, already cut
        replayed = replace(pipeline, answerers={**pipeline.answerers, "llm": llm})
        items = [i for i in load_items(qs.questions) if (qs.name, i.question) in stored
                 and (args.held_out or not i.held_out)]

        def ask(question, history, name=qs.name, p=replayed):
            gen.said = (stored[(name, question)].get("verification") or {}).get("model_answer", "")
            return p.ask_with_hits(question, history, "llm")
        verdicts = evaluate(ask, items, settings.top_k)
        pipeline.close()
        before = sum(stored[(qs.name, i.question)]["ok"] for i in items)
        m = metrics(verdicts)
        rows.append((qs.name, len(items), before, m["passed"], m["extractive_fallback"]))
        for v in verdicts if args.changed else ():
            if v.ok != stored[(qs.name, v.item.question)]["ok"]:
                print(f"{'+' if v.ok else '-'} {qs.name} {v.item.id}: {v.item.question}\n    "
                      f"{v.answer.text[:300]}")
    print(table(["Satz", "Fragen", "bestanden (gespeichert)", "bestanden (jetzt)",
                 "extraktiv eingesprungen (Anteil)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
