"""The tab „Auswertung“: run a question set against the app's own index and see how the answers
fare. A shipped set (evals/sets.toml) or an uploaded CSV/JSONL file (read by
assistant.evaluate.question_sets, a German message for each bad row); a progress bar; the figures, a
chart and every failure with its question, answer and citations; report.md and metrics.json to
download; the chat's 👍/👎 ratings as a question set.

A thin layer: the run is assistant.evaluate.job (one at a time, cancel after the current
question), the files are those of `python -m assistant eval`. Text from documents and uploads is
HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path

import gradio as gr

from assistant.evaluate.job import (
    LABELS,
    Busy,
    Result,
    Status,
    corpus_files,
    for_service,
    format_value,
    shipped,
)
from assistant.evaluate.question_sets import (
    COLUMNS,
    TEMPLATE,
    feedback_set,
    items_to_csv,
    items_to_jsonl,
    load_items,
    read_question_set,
)
from assistant.evaluate.scoring import Item
from assistant.serve.service import MODE_LABELS, Service

UPLOADED = "__hochgeladen__"
FEEDBACK = "__rueckmeldungen__"
INTRO = ("Prüfen Sie, wie gut der Assistent Fragen aus den eigenen Dokumenten beantwortet: "
         "Wählen Sie einen mitgelieferten Fragensatz oder laden Sie eine Tabelle hoch (CSV mit "
         "den Spalten `" + ";".join(COLUMNS) + "`, Beschreibung in evals/README.md). Die Fragen "
         "werden mit dem Index dieser App beantwortet, eine nach der anderen; der Chat bleibt "
         "benutzbar.")
TABLE_HELP = """\
Die erste Zeile nennt die Spalten, jede weitere ist eine Frage; nur „Frage“ muss ausgefüllt sein.

- **Erwartete Begriffe**: was in der Antwort stehen muss, getrennt durch `|`; gleichwertige
  Schreibweisen eines Begriffs durch ` / ` (z. B. `3. März 2021 / 03.03.2021`).
- **Dokument**: Dateiname, aus dem ein Beleg stammen muss. **Seite**: Seite, die ein Beleg nennt.
- **Ablehnen**: `ja`, wenn die Dokumente die Frage nicht beantworten; sonst `nein` oder leer.
- Optional: **Zitat** (ein Stück der Belegstelle), **ID**, **Notiz**.

Speichern als „CSV UTF-8“ oder „CSV (Trennzeichen-getrennt)“; `;`, `,` und Tabulator werden
erkannt. Fehlerhafte Zeilen werden mit Zeilennummer gemeldet, die übrigen ausgewertet.
"""
FEEDBACK_INTRO = ("Jede Bewertung im Chat (👍/👎) wird gespeichert. Hier wird daraus ein "
                  "Fragensatz: 👍-Fragen erwarten wieder dieselbe Antwortart (Ablehnung oder "
                  "Antwort), dasselbe erste Zitat und dieselbe Seite und können gleich ausgewertet "
                  "werden. 👎-Fragen sind zu prüfen: In der Spalte „Notiz“ steht die bewertete "
                  "Antwort; tragen Sie die erwarteten Begriffe ein und laden Sie die Tabelle oben "
                  "hoch.")
FIGURES_CSS = """
table.kennzahlen td:last-child {text-align: right; font-variant-numeric: tabular-nums}
"""
FAILURES_CSS = """
.fehler {border-left: 3px solid #d9534f; padding: .2em .8em; margin-bottom: 1em}
.fehler blockquote {margin: .2em 0; white-space: pre-wrap}
.problem {color: #b52b27}
"""


def _e(text: str) -> str:
    return html.escape(str(text), quote=False)


def problems_html(summary: str, problems: list) -> str:
    """The read summary and one list entry per bad row."""
    rows = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f"<p>{_e(summary)}</p>" + (f"<ul class='zeilen'>{rows}</ul>" if rows else "")


def figures_html(m: dict) -> str:
    """The figures of a run with their German names (those that apply to this set)."""
    rows = "".join(f"<tr><td>{_e(label)}</td><td>{_e(format_value(k, m[k]))}</td></tr>"
                   for k, label in LABELS.items() if m.get(k) is not None)
    return f"<table class='kennzahlen'><tbody>{rows}</tbody></table>"


def failures_html(r: Result) -> str:
    """Every failed question with what was wrong, the answer and its citations."""
    failures = r.failures
    if not r.verdicts:
        return ""
    head = f"<h3>Nicht bestanden: {len(failures)} von {len(r.verdicts)}</h3>"
    if not failures:
        return head + "<p>Alle beantworteten Fragen haben bestanden.</p>"
    parts = []
    for v in failures:
        cites = "".join(f"<li>[{c.n}] {_e(c.title + c.place())}: „{_e(c.quote[:400])}“</li>"
                        for c in v.answer.citations)
        parts.append(
            f"<div class='fehler'><div><b>{_e(v.item.id)}</b>: {_e(v.item.question)}</div>"
            + "".join(f"<div class='problem'>✗ {_e(p)}</div>" for p in v.problems)
            + f"<div>Antwort{' (abgelehnt)' if v.answer.refused else ''}:</div>"
            f"<blockquote>{_e(v.answer.text)}</blockquote>"
            + (f"<div>Belege:</div><ul>{cites}</ul>" if cites else "<div>Keine Belege.</div>")
            + (f"<div>Notiz: {_e(v.item.note)}</div>" if v.item.note else "")
            + "</div>")
    return head + "".join(parts)


def status_html(s: Status, note: str = "") -> str:
    cls = "stoerung" if s.result and s.result.error and not s.running else "stand"
    return f"<p class='{cls}'>{_e(s.text())}</p>" + (f"<p>{_e(note)}</p>" if note else "")


def _shown(s: Status, note: str = ""):
    """status, figures, chart, failures, files for the page."""
    r = s.result
    if r is None or s.running:
        return status_html(s, note), "", gr.update(value=None, visible=False), "", \
            gr.update(value=None, visible=False)
    files = [str(p) for p in r.files]
    return (status_html(s, note), figures_html(r.metrics),
            gr.update(value=str(r.chart) if r.chart else None, visible=r.chart is not None),
            failures_html(r), gr.update(value=files or None, visible=bool(files)))


def build_evaluation_tab(svc: Service) -> gr.Tab:
    """The tab „Auswertung“ inside the app's Blocks; one runner per app, shared by all pages."""
    runner = for_service(svc)
    sets = {qs.name: qs for qs in shipped()}
    counts = {name: len(load_items(qs.questions)) for name, qs in sets.items()
              if qs.questions.is_file()}
    base = [(f"{name} ({counts[name]} Fragen)", name) for name in sets if name in counts]
    base.append(("Rückmeldungen aus dem Chat (👍)", FEEDBACK))
    modes = svc.modes()
    exports: deque[Path] = deque()
    template = Path(tempfile.mkdtemp(prefix="fragensatz-")) / "fragensatz-vorlage.csv"
    template.write_text(TEMPLATE.replace("\n", "\r\n"), encoding="utf-8-sig")  # as Excel saves it

    def pick(choice: str | None, uploaded: tuple | None) -> tuple[str, list[Item], str]:
        """The set to run: (name, items, a note) or ValueError with a German message."""
        if choice == UPLOADED:
            if not uploaded:
                raise ValueError("Bitte zuerst eine Datei hochladen.")
            return uploaded[0], list(uploaded[1]), ""
        if choice == FEEDBACK:
            fb = feedback_set(svc.feedback_path)
            if not fb.liked:
                raise ValueError("Noch keine Antworten mit 👍 bewertet. Bewerten Sie Antworten im "
                                 "Chat, dann werden sie hier ein Fragensatz.")
            left = (f"{len(fb.disliked)} Fragen mit 👎 sind nicht dabei: Sie brauchen zuerst eine "
                    "Erwartung (unten „Rückmeldungen aus dem Chat als Fragensatz“).") if fb.disliked else ""
            return "rueckmeldungen", fb.liked, left
        qs = sets.get(choice or "")
        if qs is None:
            raise ValueError("Bitte einen Fragensatz wählen oder eine Datei hochladen.")
        indexed = {d["file"] for d in svc.documents()}
        wanted = corpus_files(qs)
        missing = [n for n in wanted if n not in indexed]
        if wanted and len(missing) == len(wanted):
            raise ValueError(f"Die Dokumente des Fragensatzes „{qs.name}“ sind nicht im Index "
                             f"({', '.join(missing)}). Bitte zuerst unter „Dokumente und Index“ "
                             "hochladen, oder den Satz mit eigenem Index auswerten: "
                             f"python -m assistant eval --sets {qs.name}")
        some = "1 Dokument des Satzes fehlt" if len(missing) == 1 else \
            f"{len(missing)} Dokumente des Satzes fehlen"
        note = (f"Hinweis: {some} im Index ({', '.join(missing)}); Fragen zu "
                f"{'ihm' if len(missing) == 1 else 'ihnen'} können nicht bestehen.") if missing else ""
        return qs.name, load_items(qs.questions), note

    def read(path: str | None):
        """Read an uploaded question file: the message, the set choice, this page's set."""
        if not path:
            return "", gr.update(choices=base, value=base[0][1] if base else None), None
        f = Path(path)
        parsed = read_question_set(f.name, f.read_bytes(), svc.pipeline.settings.max_question_chars)
        message = problems_html(parsed.summary(), parsed.problems)
        if not parsed.items:
            message += "<p><b>Keine Frage lesbar.</b> Bitte die Datei prüfen.</p>"
            return message, gr.update(choices=base), None
        n = len(parsed.items)
        label = f"Hochgeladen: {f.name} ({n} {'Frage' if n == 1 else 'Fragen'})"
        return (message, gr.update(choices=[*base, (label, UPLOADED)], value=UPLOADED),
                (f.stem, tuple(parsed.items)))

    def run(choice, uploaded, mode_, progress=gr.Progress()):  # noqa: B008
        """Start the run and follow it with the progress bar until it ends."""
        skip = gr.skip()
        try:
            name, items, note = pick(choice, uploaded)
            if not svc.status()["ready"]:
                raise ValueError("Der Index ist leer. Bitte zuerst Dokumente hochladen.")
            runner.start(name, items, mode_)
        except (Busy, ValueError) as e:
            yield f"<p class='abgewiesen'><b>{_e(e)}</b></p>", skip, skip, skip, skip
            return
        yield _shown(runner.status(), note)  # the last run's figures go
        while (s := runner.status()).running:
            what = "Abbruch nach dieser Frage" if s.cancelling else f"Frage {s.done + 1}"
            progress((s.done, s.total), desc=f"{what} von {s.total}", unit="Fragen")
            time.sleep(0.3)
        yield _shown(s, note)

    def cancel() -> None:
        if runner.cancel():
            gr.Info("Die Auswertung wird nach der aktuellen Frage abgebrochen.")
        else:
            gr.Info("Es läuft keine Auswertung.")

    def export_feedback():
        """The feedback file as a CSV (for a spreadsheet) and a JSONL question set."""
        fb = feedback_set(svc.feedback_path)
        if not fb.items:
            return ("<p>Noch keine Rückmeldungen. Bewerten Sie Antworten im Chat mit 👍 oder 👎."
                    "</p>", gr.update(value=None, visible=False))
        folder = Path(tempfile.mkdtemp(prefix="rueckmeldungen-"))
        exports.append(folder)
        while len(exports) > 5:  # earlier exports: the page holds its own copy
            shutil.rmtree(exports.popleft(), ignore_errors=True)
        csv_file, jsonl_file = folder / "rueckmeldungen.csv", folder / "rueckmeldungen.jsonl"
        csv_file.write_text(items_to_csv(fb.items), encoding="utf-8-sig")  # BOM: Excel reads UTF-8
        jsonl_file.write_text(items_to_jsonl(fb.items), encoding="utf-8")
        text = (f"{len(fb.items)} Fragen aus Rückmeldungen: {len(fb.liked)} mit 👍 (bereit zur "
                f"Auswertung), {len(fb.disliked)} mit 👎 (zu prüfen).")
        if fb.problems:
            text += f" {len(fb.problems)} Zeilen der Rückmeldungsdatei waren nicht lesbar."
        return f"<p>{_e(text)}</p>", gr.update(value=[str(csv_file), str(jsonl_file)], visible=True)

    with gr.Tab("Auswertung", id="auswertung", elem_id="auswertung") as tab:
        gr.Markdown(INTRO)
        uploaded = gr.State(None)  # this page's uploaded set: (name, items)
        with gr.Row():
            with gr.Column(scale=3):
                choice = gr.Dropdown(base, value=base[0][1] if base else None, label="Fragensatz",
                                     elem_id="fragensatz", interactive=True)
                upload = gr.File(label="Eigenen Fragensatz hochladen (CSV oder JSONL)",
                                 file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json"],
                                 type="filepath", elem_id="fragensatz-datei")
                read_message = gr.HTML(elem_id="fragensatz-meldung")
                with gr.Accordion("Aufbau der Tabelle und Vorlage", open=False,
                                  elem_id="fragensatz-hilfe"):
                    gr.Markdown(TABLE_HELP)
                    gr.File(str(template), label="Vorlage", interactive=False,
                            elem_id="fragensatz-vorlage")
            with gr.Column(scale=2):
                if len(modes) > 1:
                    mode = gr.Radio([(MODE_LABELS.get(m, m), m) for m in modes], value=modes[0],
                                    label="Antwortmodus", elem_id="auswertung-modus")
                else:
                    mode = gr.State(modes[0])
                start = gr.Button("Auswertung starten", variant="primary",
                                  elem_id="auswertung-starten")
                stop = gr.Button("Abbrechen", variant="stop", elem_id="auswertung-abbrechen")
        status = gr.HTML(status_html(runner.status()), elem_id="auswertung-status")
        with gr.Row():
            figures = gr.HTML(elem_id="auswertung-kennzahlen", css_template=FIGURES_CSS)
            chart = gr.Image(label="Diagramm", show_label=False, type="filepath", interactive=False,
                             visible=False, elem_id="auswertung-diagramm")
        failures = gr.HTML(elem_id="auswertung-fehler", css_template=FAILURES_CSS)
        files = gr.File(label="Bericht herunterladen (report.md, metrics.json)",
                        file_count="multiple", interactive=False, visible=False,
                        elem_id="auswertung-dateien")
        with gr.Accordion("Rückmeldungen aus dem Chat als Fragensatz", open=False,
                          elem_id="rueckmeldungen"):
            gr.Markdown(FEEDBACK_INTRO)
            feedback = gr.Button("Fragensatz aus Rückmeldungen erstellen",
                                 elem_id="rueckmeldungen-erstellen")
            feedback_message = gr.HTML(elem_id="rueckmeldungen-meldung")
            feedback_files = gr.File(label="Fragensatz aus Rückmeldungen", file_count="multiple",
                                     interactive=False, visible=False,
                                     elem_id="rueckmeldungen-dateien")

    shown = [status, figures, chart, failures, files]
    upload.upload(read, [upload], [read_message, choice, uploaded])
    upload.clear(read, [upload], [read_message, choice, uploaded])
    # not queued behind a running evaluation: a second click, from any page, is answered at once
    start.click(run, [choice, uploaded, mode], shown, concurrency_limit=None,
                trigger_mode="multiple", show_progress_on=[status])
    stop.click(cancel, None, None, concurrency_limit=None)
    tab.select(lambda: _shown(runner.status()), None, shown, concurrency_limit=None)
    feedback.click(export_feedback, None, [feedback_message, feedback_files])
    return tab
