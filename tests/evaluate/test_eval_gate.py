"""The CI gate: the seed set must hold the figures in evals/gate.toml, and a broken retriever
must fail it."""

import random
import tomllib
from pathlib import Path

from assistant.evaluate.question_sets import load_items
from assistant.evaluate.runner import gate
from assistant.evaluate.scoring import evaluate, metrics
from tests.conftest import ROOT

THRESHOLDS = tomllib.loads((ROOT / "evals" / "gate.toml").read_text(encoding="utf-8"))
ITEMS = load_items(ROOT / "evals" / "seed.jsonl")


def _seed_metrics(pipeline) -> dict:
    return {"seed": metrics(evaluate(pipeline.ask_with_hits, ITEMS))}


def test_the_default_pipeline_passes_the_gate(real_pipeline):
    assert gate(_seed_metrics(real_pipeline), THRESHOLDS) == []


def test_a_broken_retriever_fails_the_gate(real_pipeline, monkeypatch):
    real = real_pipeline.retriever.retrieve
    rng = random.Random(7)

    def shuffled(question: str, k: int):
        hits = real(question, 20)  # the right passages are in there, but ranked at random
        rng.shuffle(hits)
        return hits[:k]

    monkeypatch.setattr(real_pipeline.retriever, "retrieve", shuffled)
    failures = gate(_seed_metrics(real_pipeline), THRESHOLDS)
    assert any("hit@5" in f for f in failures)
    assert any("pass_rate" in f for f in failures)


def test_gate_reports_each_figure_below_its_floor():
    now = {"seed": {"pass_rate": 0.8, "hit@5": 0.99, "refusal_recall": None}}
    floors = {"seed": {"pass_rate": 0.85, "hit@5": 0.95, "refusal_recall": 1.0}, "other": {"x": 1}}
    assert gate(now, floors) == ["seed: pass_rate 0.8 < 0.85", "seed: refusal_recall None < 1.0"]
    assert Path(ROOT / "evals" / "gate.toml").is_file()
