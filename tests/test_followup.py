"""Follow-up questions: cheap rules decide when a question leans on the history."""

import pytest

from assistant.followup import needs_history, resolve

HISTORY = [{"role": "user", "content": "Wer nahm am 13. Juni 2016 teil?"},
           {"role": "assistant", "content": "Herr Kahlen, ... [1]"}]


@pytest.mark.parametrize("question", [
    "Und auf wessen Einladung fand das Gespräch statt?", "Seit wann?", "Wo fand es statt?",
    "Und wann?", "Wer war dort noch dabei?",
])
def test_dependent_questions(question):
    assert needs_history(question)


@pytest.mark.parametrize("question", [
    "Wann war die Abschlussveranstaltung des Pilotvorhabens?",
    "Welche Landkreise gehörten zu den Modellkommunen?",
    "Wer nahm am 2. Mai 2016 am Gespräch teil?",
])
def test_standalone_questions(question):
    assert not needs_history(question)


def test_resolve_keeps_the_question_word_first_and_adds_the_last_user_question():
    q = resolve("Und auf wessen Einladung fand das Gespräch statt?", HISTORY)
    assert q == "Und auf wessen Einladung fand das Gespräch statt? (Wer nahm am 13. Juni 2016 teil?)"
    assert resolve("Welche Landkreise gibt es?", HISTORY) == "Welche Landkreise gibt es?"
    assert resolve("Und wann?", []) == "Und wann?"


def test_follow_up_retrieves_the_meeting_and_answers_vitt(real_pipeline):
    a = real_pipeline.ask("Und auf wessen Einladung fand das Gespräch statt?", HISTORY)
    assert not a.refused
    assert "Staatssekretär Klaus Vitt" in a.text
    assert any("auf Einladung von Herrn Staatssekretär Klaus Vitt" in c.quote for c in a.citations)


def test_cli_ask_reads_the_history_file(real_pipeline, tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    history = tmp_path / "verlauf.json"
    history.write_text(json.dumps(HISTORY, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--json", "--index",
         str(real_pipeline.settings.index_dir), "--history", str(history),
         "Und auf wessen Einladung fand das Gespräch statt?"],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120)
    assert "Staatssekretär Klaus Vitt" in json.loads(out.stdout)["answer"]
