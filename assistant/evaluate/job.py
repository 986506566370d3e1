"""An evaluation run inside the web app: one at a time, in a thread of its own, against the app's
own pipeline, with its progress readable at any moment and a cancel that stops after the
current question. Its files are those of `python -m assistant eval` (report.md, metrics.json,
answers.jsonl, chart.png), written by the same `write_report`.

Chat users are not held up: the run asks one question at a time through the same pipeline the
chat uses, and in the llm mode it queues for the model per question, like any chat request.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.evaluate.runner import QuestionSet, held_out_split, write_report
from assistant.evaluate.scoring import Item, Verdict, evaluate, metrics

log = logging.getLogger(__name__)

# German names of the figures of assistant.evaluate.scoring.metrics, in the order shown.
LABELS = {
    "items": "Fragen",
    "passed": "Bestanden",
    "pass_rate": "Anteil bestanden",
    "hit@1": "Beleg an 1. Stelle gefunden (hit@1)",
    "hit@5": "Beleg unter den ersten 5 (hit@5)",
    "mrr": "Mittlerer Rang-Kehrwert (MRR)",
    "source_cited": "Richtige Quelle zitiert",
    "right_source_or_refusal": "Richtige Quelle oder berechtigte Ablehnung",
    "key_terms": "Erwartete Begriffe genannt",
    "token_f1": "Wortübereinstimmung mit Referenz (F1)",
    "citation_precision": "Zitatgenauigkeit",
    "unsupported_facts_shown": "Gezeigte unbelegte Fakten",
    "facts_outside_quotes": "Fakten außerhalb der Zitate",
    "extractive_fallback": "Rückfall auf extraktive Antwort",
    "refusal_precision": "Ablehnungen zu Recht (Präzision)",
    "refusal_recall": "Abzulehnende abgelehnt (Recall)",
    "latency_p50_ms": "Antwortzeit, Median (ms)",
    "latency_p95_ms": "Antwortzeit, 95 % (ms)",
}
CHART_LABELS = {"pass_rate": "bestanden", "hit@1": "hit@1", "hit@5": "hit@5", "mrr": "MRR",
                "right_source_or_refusal": "Quelle/Ablehnung",
                "refusal_recall": "Ablehnung erkannt"}
SHARES = {"pass_rate", "hit@1", "hit@5", "mrr", "source_cited", "right_source_or_refusal",
          "key_terms", "token_f1", "citation_precision", "extractive_fallback",
          "refusal_precision", "refusal_recall"}

Ask = Callable[..., tuple]  # ask_with_hits(question, history, mode) -> (Answer, hits)


class Busy(Exception):
    """A second evaluation was asked for while one runs (the message says which, in German)."""


class NotNow(Exception):
    """Raised by `acquire` when the model's line is full: the run tries again a second later."""


@dataclass
class Result:
    """A finished (or cancelled) run: its figures, verdicts and the folder with its files."""

    name: str
    metrics: dict
    verdicts: list[Verdict]
    total: int  # questions in the set; more than len(verdicts) when cancelled
    folder: Path
    cancelled: bool = False
    error: str = ""

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.ok]

    @property
    def files(self) -> list[Path]:
        """report.md and metrics.json, for download."""
        return [p for p in (self.folder / "report.md", self.folder / "metrics.json") if p.is_file()]

    @property
    def chart(self) -> Path | None:
        p = self.folder / "chart.png"
        return p if p.is_file() else None


@dataclass
class Status:
    """What a page shows of the run: state, counts, the question being asked, the last result."""

    running: bool = False
    name: str = ""
    done: int = 0
    total: int = 0
    current: str = ""
    cancelling: bool = False
    result: Result | None = None

    def text(self) -> str:
        """A German line for the page."""
        if self.running:
            what = "wird nach der aktuellen Frage abgebrochen" if self.cancelling else "läuft"
            return (f"Auswertung „{self.name}“ {what}: {self.done} von {self.total} Fragen "
                    "beantwortet.")
        r = self.result
        if r is None:
            return "Noch keine Auswertung."
        passed = r.metrics.get("passed", 0)
        if r.error:
            head = f"Auswertung „{r.name}“ nach {len(r.verdicts)} von {r.total} Fragen mit einem " \
                   f"Fehler abgebrochen: {r.error}"
        elif r.cancelled:
            head = f"Auswertung „{r.name}“ abgebrochen nach {len(r.verdicts)} von {r.total} Fragen."
        else:
            head = f"Auswertung „{r.name}“ fertig."
        return f"{head} {passed} von {len(r.verdicts)} bestanden."


@dataclass
class EvaluationRunner:
    """Runs one question set at a time against `ask` (the app's Pipeline.ask_with_hits).

    `acquire(mode)`, when given, is called before each question and returns the release function
    (the app passes its model gate for the llm mode); it may raise NotNow, and is then retried
    every second until the run is cancelled."""

    ask: Ask
    top_k: int = 5
    acquire: Callable[[str | None], Callable[[], None] | None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _status: Status = field(default_factory=Status)
    _thread: threading.Thread | None = None

    def start(self, name: str, items: Sequence[Item], mode: str | None = None) -> None:
        """Begin a run in the background; Busy (German) if one runs, ValueError if no questions."""
        if not items:
            raise ValueError("Der Fragensatz enthält keine Fragen.")
        with self._lock:
            s = self._status
            if s.running:
                raise Busy(f"Es läuft schon eine Auswertung („{s.name}“, {s.done} von {s.total} "
                           "Fragen). Bitte warten, bis sie fertig ist, oder sie abbrechen.")
            old = s.result.folder if s.result else None
            self._cancel.clear()
            self._status = Status(running=True, name=name, total=len(items), result=s.result)
            self._thread = threading.Thread(target=self._run, args=(name, list(items), mode, old),
                                            name="auswertung", daemon=True)
            self._thread.start()

    def cancel(self) -> bool:
        """Stop after the current question; False if nothing runs."""
        with self._lock:
            if not self._status.running:
                return False
            self._cancel.set()
            self._status.cancelling = True
            return True

    def status(self) -> Status:
        """A copy of the current status (safe to read from any thread)."""
        with self._lock:
            s = self._status
            return Status(s.running, s.name, s.done, s.total, s.current, s.cancelling, s.result)

    def wait(self, timeout: float | None = None) -> Status:
        """Block until the current run ends (for tests and scripts)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def _run(self, name: str, items: list[Item], mode: str | None, old: Path | None) -> None:
        verdicts: list[Verdict] = []
        error = ""
        try:
            for it in items:
                if self._cancel.is_set():
                    break
                with self._lock:
                    self._status.current = it.question
                release = self._wait_for_turn(mode)
                if release is False:  # cancelled while waiting for the model
                    break
                try:
                    verdicts += evaluate(lambda q, h: self.ask(q, h, mode), [it], self.top_k)
                finally:
                    if callable(release):
                        release()
                with self._lock:
                    self._status.done = len(verdicts)
        except Exception as e:  # the page must learn of it; the chat goes on
            log.exception("Auswertung „%s“ fehlgeschlagen", name)
            error = f"{type(e).__name__}: {e}"
        cancelled = self._cancel.is_set() and len(verdicts) < len(items)
        folder = Path(tempfile.mkdtemp(prefix="auswertung-"))
        m = metrics(verdicts)
        try:
            results = {name: (m, verdicts)} | held_out_split(name, verdicts)
            write_report(folder, results, [], CHART_LABELS)
        except Exception as e:
            log.exception("Bericht der Auswertung „%s“ nicht geschrieben", name)
            error = error or f"Bericht nicht geschrieben: {type(e).__name__}: {e}"
        result = Result(name, m, verdicts, len(items), folder, cancelled, error)
        with self._lock:
            self._status = Status(running=False, name=name, done=len(verdicts), total=len(items),
                                  result=result)
        if old is not None:  # the previous run's files; downloads were copied by the web page
            shutil.rmtree(old, ignore_errors=True)

    def _wait_for_turn(self, mode: str | None):
        """The release function of the model slot (None: no slot needed), False if cancelled."""
        if self.acquire is None:
            return None
        while True:
            try:
                return self.acquire(mode)
            except NotNow:  # the model's line is full (429): try again shortly
                if self._cancel.wait(1.0):
                    return False


def for_service(svc) -> EvaluationRunner:
    """A runner over a Service's pipeline; the llm mode queues for its model gate per question."""

    from assistant.serve.service import RequestError

    def acquire(mode: str | None):
        if (mode or svc.modes()[0]) != "llm":
            return None
        try:
            release = svc.gate.acquire()
        except RequestError as e:
            raise NotNow(str(e)) from e
        return lambda: release(True)

    return EvaluationRunner(lambda *a: svc.pipeline.ask_with_hits(*a),  # looked up per question
                            svc.pipeline.settings.top_k, acquire)


def shipped() -> list[QuestionSet]:
    """The shipped sets (evals/sets.toml); empty if the file is missing (an installed package)."""
    from assistant.evaluate.runner import SETS, shipped_sets

    return shipped_sets() if SETS.is_file() else []


def corpus_files(qs: QuestionSet) -> list[str]:
    """The file names a shipped set is about (its corpus files, or the files in its folders)."""
    from assistant.read.corpus import SUFFIXES

    names = []
    for c in qs.corpus:
        if c.is_dir():
            names += sorted(f.name for f in c.iterdir() if f.is_file()
                            and f.suffix.lower() in SUFFIXES and f.name.lower() != "readme.md")
        else:
            names.append(c.name)
    return names


def format_value(key: str, value) -> str:
    """A figure for people: shares in per cent, counts and milliseconds as numbers, „–“ if none."""
    if value is None:
        return "–"
    if key in SHARES:
        return f"{100 * value:.0f} %"
    return f"{value:g}" if isinstance(value, float) else str(value)
