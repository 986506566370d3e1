"""`python -m assistant eval`: run question sets, write metrics.json, report.md and chart.png.

Each shipped set (evals/sets.toml) is answered from an index of exactly its own corpus, kept
under OUT/index/<set> so a second run only re-checks hashes. A --questions file without a set
entry is answered from the configured index.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from assistant.evaluate.question_sets import load_items
from assistant.evaluate.scoring import Verdict, evaluate, metrics
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETS = ROOT / "evals" / "sets.toml"
HIGHER_IS_BETTER = ("pass_rate", "hit@1", "hit@5", "mrr", "source_cited", "right_source_or_refusal",
                    "key_terms", "token_f1", "citation_precision", "refusal_precision",
                    "refusal_recall")


@dataclass(frozen=True)
class QuestionSet:
    """A question file and the documents it is about (empty: the configured index)."""

    name: str
    questions: Path
    corpus: tuple[Path, ...] = ()


def shipped_sets(path: Path = SETS) -> list[QuestionSet]:
    """The sets listed in evals/sets.toml, paths resolved."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [QuestionSet(s["name"], (path.parent / s["questions"]).resolve(),
                        tuple((path.parent / c).resolve() for c in s.get("corpus", ())))
            for s in data["sets"]]


def run_set(qs: QuestionSet, settings: Settings, out: Path) -> tuple[dict, list[Verdict]]:
    """Build (or reuse) the set's index, ask every question, return metrics and verdicts."""
    from assistant.pipeline import build_pipeline

    if qs.corpus:
        first_dir = next((c for c in qs.corpus if c.is_dir()), None)
        settings = replace_settings(settings, index_dir=out / "index" / qs.name,
                                    corpus_dir=first_dir or settings.corpus_dir)
    pipeline = build_pipeline(settings)
    try:
        if qs.corpus:
            report = pipeline.ingest(list(qs.corpus), progress=False)
            for e in report.errors:
                print(f"[{qs.name}] {e}", file=sys.stderr)
        verdicts = evaluate(pipeline.ask_with_hits, load_items(qs.questions), settings.top_k)
    finally:
        pipeline.close()  # one set's model process does not outlive its set
    return metrics(verdicts), verdicts


def replace_settings(settings: Settings, **changes) -> Settings:
    """A copy of the settings with some fields changed (validated again)."""
    return Settings(**{**settings.model_dump(), **changes})


def compare(now: dict, before: dict, tolerance: float = 0.02) -> list[str]:
    """Regressions of `now` against `before`: quality down by more than `tolerance`, or p95 +20%."""
    found = []
    for name, m in now.items():
        old = before.get(name, {})
        for key in HIGHER_IS_BETTER:
            if m.get(key) is not None and old.get(key) is not None and m[key] < old[key] - tolerance:
                found.append(f"{name}: {key} {old[key]:.3f} -> {m[key]:.3f}")
        shown, old_shown = m.get("unsupported_facts_shown"), old.get("unsupported_facts_shown")
        if shown and shown > (old_shown or 0):
            found.append(f"{name}: unsupported_facts_shown {old_shown} -> {shown}")
        p95, old_p95 = m.get("latency_p95_ms"), old.get("latency_p95_ms")
        if p95 and old_p95 and p95 > 1.2 * old_p95 + 5:
            found.append(f"{name}: latency_p95_ms {old_p95} -> {p95}")
    return found


def gate(now: dict, thresholds: dict) -> list[str]:
    """Figures below their threshold ("set: metric 0.80 < 0.85"); empty when the gate passes."""
    return [f"{name}: {key} {now[name].get(key)} < {floor}"
            for name, floors in thresholds.items() if name in now
            for key, floor in floors.items()
            if now[name].get(key) is None or now[name][key] < floor]


def write_report(out: Path, results: dict[str, tuple[dict, list[Verdict]]],
                 regressions: list[str], labels: dict[str, str] | None = None) -> None:
    """metrics.json, report.md (every failure with its answer and citations), answers.jsonl
    (every answer with its problems, citations and verification) and chart.png (its bars named
    by `labels`, default: the metric keys)."""
    out.mkdir(parents=True, exist_ok=True)
    all_metrics = {name: m for name, (m, _) in results.items()}
    (out / "metrics.json").write_text(json.dumps(all_metrics, indent=2, ensure_ascii=False))
    with (out / "answers.jsonl").open("w", encoding="utf-8") as f:
        for name, (_, verdicts) in results.items():
            for v in verdicts:
                f.write(json.dumps({"set": name, "id": v.item.id, "question": v.item.question,
                                    "ok": v.ok, "problems": v.problems, "seconds": v.seconds}
                                   | v.answer.to_json(), ensure_ascii=False) + "\n")
    lines = ["# Evaluation", ""]
    keys = ["items", "pass_rate", "hit@1", "hit@5", "mrr", "source_cited", "right_source_or_refusal",
            "key_terms", "citation_precision", "unsupported_facts_shown", "facts_outside_quotes",
            "extractive_fallback", "refusal_precision",
            "refusal_recall",
            "latency_p50_ms", "latency_p95_ms"]
    lines += ["| metric | " + " | ".join(all_metrics) + " |",
              "|---|" + "---|" * len(all_metrics)]
    lines += [f"| {k} | " + " | ".join(_fmt(m.get(k)) for m in all_metrics.values()) + " |"
              for k in keys]
    if regressions:
        lines += ["", "## Regressions", ""] + [f"- {r}" for r in regressions]
    for name, (_, verdicts) in results.items():
        failures = [v for v in verdicts if not v.ok]
        lines += ["", f"## Failures: {name} ({len(failures)} of {len(verdicts)})", ""]
        for v in failures:
            lines += [f"### {v.item.id}: {v.item.question}", "",
                      f"- problems: {'; '.join(v.problems)}",
                      f"- answer: {v.answer.text}"]
            lines += [f"- [{c.n}] {c.title}, S. {c.page}: „{c.quote[:300]}“" for c in v.answer.citations]
            lines.append(f"- retrieved pages: {[h.chunk.page for h in v.hits]}")
            if v.item.note:
                lines.append(f"- note: {v.item.note}")
            lines.append("")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    _chart(all_metrics, out / "chart.png", labels or {})


def _fmt(x) -> str:
    return "–" if x is None else (f"{x:.3f}" if isinstance(x, float) and x <= 1 else str(x))


def _chart(all_metrics: dict, path: Path, labels: dict[str, str] | None = None) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib fehlt: kein Diagramm (pip install matplotlib)", file=sys.stderr)
        return
    keys = ["pass_rate", "hit@1", "hit@5", "mrr", "right_source_or_refusal", "refusal_recall"]
    # a figure no set has (hit@k without expected sources) is left out, not drawn as 0
    keys = [k for k in keys if any(m.get(k) is not None for m in all_metrics.values())] or keys
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(all_metrics))
    for i, (name, m) in enumerate(all_metrics.items()):
        ax.bar([x + i * width for x in range(len(keys))], [m.get(k) or 0 for k in keys], width,
               label=name)
    ax.set_xticks([x + width * (len(all_metrics) - 1) / 2 for x in range(len(keys))],
                  [(labels or {}).get(k, k) for k in keys], rotation=20)
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)  # the web app makes one per evaluation: pyplot would keep them all


def held_out_split(name: str, verdicts: list[Verdict]) -> dict[str, tuple[dict, list[Verdict]]]:
    """A set with held-out items is also reported as its two parts: '<set>/tuning', the items
    one may look at while tuning, and '<set>/held-out', the ones that judge the result."""
    held = [v for v in verdicts if v.item.held_out]
    if not held or len(held) == len(verdicts):
        return {}
    rest = [v for v in verdicts if not v.item.held_out]
    return {f"{name}/tuning": (metrics(rest), rest), f"{name}/held-out": (metrics(held), held)}


def main(questions: list[Path], out: Path, compare_to: Path | None, settings: Settings,
         only: list[str] | None = None) -> int:
    """Run the sets (all shipped ones, or `only` these), print the summary, write the report;
    exit 1 on regressions."""
    sets = [QuestionSet(q.stem, q.resolve()) for q in questions] if questions else shipped_sets()
    if only:
        unknown = set(only) - {qs.name for qs in sets}
        if unknown:
            print(f"Unbekannte Fragensätze: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        sets = [qs for qs in sets if qs.name in only]
    results = {}
    for qs in sets:
        missing = [c for c in qs.corpus if not c.exists()]
        if missing:
            print(f"[{qs.name}] übersprungen: Korpus fehlt ({', '.join(map(str, missing))})",
                  file=sys.stderr)
            continue
        results[qs.name] = run_set(qs, settings, out)
        results |= held_out_split(qs.name, results[qs.name][1])
    for name, (m, _) in results.items():
        print(f"{name}: {m['passed']}/{m['items']} bestanden, hit@5 {_fmt(m['hit@5'])}, "
              f"richtige Quelle oder Ablehnung {_fmt(m['right_source_or_refusal'])}, "
              f"Ablehnung P/R {_fmt(m['refusal_precision'])}/{_fmt(m['refusal_recall'])}, "
              f"p95 {m['latency_p95_ms']} ms")
    before = json.loads(compare_to.read_text()) if compare_to else {}
    regressions = compare({n: m for n, (m, _) in results.items()}, before) if compare_to else []
    write_report(out, results, regressions)
    for r in regressions:
        print(f"REGRESSION {r}")
    print(f"Bericht: {out / 'report.md'}")
    return 1 if regressions else 0


