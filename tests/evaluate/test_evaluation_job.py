"""The evaluation run of the web app (assistant/evaluate/job.py) against the real default
pipeline over the seed corpus: its figures and files, one run at a time, cancel after the current
question, the model gate of the llm mode, and a failing pipeline."""

from __future__ import annotations

import json
import threading

import pytest

from assistant.evaluate.job import Busy, EvaluationRunner, NotNow, format_value
from assistant.evaluate.question_sets import parse_csv
from assistant.evaluate.scoring import Item

CSV = """Frage;Erwartete Begriffe;Dokument;Seite;Ablehnen
Wer nahm am 13. Juni 2016 teil?;Kahlen | Schlusche | Brockmann | Lühr;;;nein
Wie hoch ist die Hundesteuer in Gütersloh?;;;;ja
Wer nahm am 13. Juni 2016 teil?;Hamburg-Altona;;;
"""


@pytest.fixture
def items() -> list[Item]:
    parsed = parse_csv(CSV)
    assert parsed.problems == []
    return parsed.items


def gated(ask):
    """`ask` that waits at each question until the test lets it go; `entered` is set on entry."""
    go, entered = threading.Event(), threading.Event()

    def wrapped(question, history, mode=None):
        entered.set()
        assert go.wait(30), "Test hat die Frage nicht freigegeben"
        return ask(question, history, mode)

    return wrapped, go, entered


def test_a_run_gives_the_figures_the_failure_and_the_cli_files(real_pipeline, items):
    runner = EvaluationRunner(real_pipeline.ask_with_hits, real_pipeline.settings.top_k)
    runner.start("tabelle", items)
    s = runner.wait(120)
    assert not s.running
    r = s.result
    assert r is not None and not r.cancelled and r.error == ""
    assert [v.ok for v in r.verdicts] == [True, True, False]
    assert r.metrics["items"] == 3 and r.metrics["passed"] == 2
    assert r.metrics["refusal_recall"] == 1.0
    assert r.failures[0].problems == ["fehlt: Hamburg-Altona"]
    assert "Kahlen" in r.failures[0].answer.text  # the answer is kept for the page
    assert s.text() == "Auswertung „tabelle“ fertig. 2 von 3 bestanden."
    assert [p.name for p in r.files] == ["report.md", "metrics.json"]
    assert json.loads((r.folder / "metrics.json").read_text())["tabelle"]["passed"] == 2
    report = (r.folder / "report.md").read_text(encoding="utf-8")
    assert "## Failures: tabelle (1 of 3)" in report
    assert "### zeile-4: Wer nahm am 13. Juni 2016 teil?" in report
    assert "fehlt: Hamburg-Altona" in report
    assert r.chart is not None and r.chart.stat().st_size > 5_000


def test_one_run_at_a_time_and_cancel_stops_after_the_current_question(real_pipeline, items):
    ask, go, entered = gated(real_pipeline.ask_with_hits)
    runner = EvaluationRunner(ask, real_pipeline.settings.top_k)
    runner.start("erster", items)
    assert entered.wait(30)
    with pytest.raises(Busy, match=r"Es läuft schon eine Auswertung \(„erster“, 0 von 3 Fragen\)"):
        runner.start("zweiter", items)
    assert runner.status().text() == "Auswertung „erster“ läuft: 0 von 3 Fragen beantwortet."
    assert runner.cancel() is True
    assert "wird nach der aktuellen Frage abgebrochen" in runner.status().text()
    go.set()  # the current question is answered, the next one is not asked
    s = runner.wait(60)
    r = s.result
    assert r is not None and r.cancelled and r.total == 3
    assert [v.item.id for v in r.verdicts] == ["zeile-2"] and r.verdicts[0].ok
    assert s.text() == "Auswertung „erster“ abgebrochen nach 1 von 3 Fragen. 1 von 1 bestanden."
    assert json.loads((r.folder / "metrics.json").read_text())["erster"]["items"] == 1
    assert runner.cancel() is False  # nothing runs any more

    first = r.folder
    runner.start("zweiter", items[1:2])  # free again; the earlier run's files are cleared
    s = runner.wait(60)
    assert s.result.name == "zweiter" and s.result.metrics["passed"] == 1
    assert not first.exists()


def test_an_empty_set_is_refused(real_pipeline):
    runner = EvaluationRunner(real_pipeline.ask_with_hits)
    with pytest.raises(ValueError, match="enthält keine Fragen"):
        runner.start("leer", [])
    assert not runner.status().running


def test_the_llm_mode_queues_for_the_model_per_question(real_pipeline, items):
    """acquire is asked before each question and released after it; a full line (NotNow) is
    retried, and a cancel while waiting ends the run without asking."""
    calls: list[str] = []
    full = {"left": 1}

    def acquire(mode):
        if full["left"]:
            full["left"] -= 1
            raise NotNow("ausgelastet")
        calls.append(f"acquire {mode}")
        return lambda: calls.append("release")

    runner = EvaluationRunner(real_pipeline.ask_with_hits, acquire=acquire)
    runner.start("modell", items[:2], mode="extractive")
    r = runner.wait(60).result
    assert calls == ["acquire extractive", "release"] * 2
    assert len(r.verdicts) == 2

    def never(mode):
        raise NotNow("ausgelastet")

    runner = EvaluationRunner(real_pipeline.ask_with_hits, acquire=never)
    runner.start("wartet", items)
    runner.cancel()
    r = runner.wait(10).result
    assert r.cancelled and r.verdicts == []


def test_a_failing_pipeline_ends_the_run_with_a_message_and_keeps_the_answers(real_pipeline, items):
    asked = []

    def ask(question, history, mode=None):
        asked.append(question)
        if len(asked) == 2:
            raise RuntimeError("Index nicht lesbar")
        return real_pipeline.ask_with_hits(question, history, mode)

    runner = EvaluationRunner(ask)
    runner.start("kaputt", items)
    s = runner.wait(60)
    assert s.result.error == "RuntimeError: Index nicht lesbar"
    assert len(s.result.verdicts) == 1
    assert s.text().startswith("Auswertung „kaputt“ nach 1 von 3 Fragen mit einem Fehler "
                               "abgebrochen: RuntimeError: Index nicht lesbar")
    assert (s.result.folder / "report.md").is_file()


def test_figures_are_shown_in_per_cent_and_milliseconds():
    assert format_value("pass_rate", 0.8) == "80 %"
    assert format_value("latency_p95_ms", 123.4) == "123.4"
    assert format_value("items", 5) == "5"
    assert format_value("hit@1", None) == "–"
