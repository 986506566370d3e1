"""The command line: `python -m assistant ingest|ask`. A thin adapter over Pipeline.

With --json, stdout carries exactly one JSON object; progress and logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from assistant.serve.present import format_answer, ingest_summary
from assistant.settings import Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assistant",
                                description="Offline-Assistent: Fragen an die eigenen Dokumente.")
    sub = p.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="Dokumente einlesen (Standard: corpus/).")
    ing.add_argument("paths", nargs="*", type=Path, help="Dateien oder Ordner")
    ing.add_argument("--index", type=Path, help="Index-Ordner (Standard: index/)")
    ing.add_argument("--quiet", action="store_true", help="keine Fortschrittsanzeige")
    ask = sub.add_parser("ask", help="Eine Frage stellen.")
    ask.add_argument("question", help="die Frage, auf Deutsch")
    ask.add_argument("--index", type=Path, help="Index-Ordner (Standard: index/)")
    ask.add_argument("--json", action="store_true", help="eine JSON-Zeile auf stdout")
    ask.add_argument("--mode", choices=["extractive", "llm"],
                     help="Antwortmodus (Standard: Einstellung answer_mode); llm lädt das Sprachmodell")
    ask.add_argument("--history", type=Path,
                     help='JSON-Datei mit dem bisherigen Gespräch: [{"role": ..., "content": ...}]')
    ev = sub.add_parser("eval", help="Fragensätze auswerten (Standard: evals/sets.toml).")
    ev.add_argument("--questions", nargs="*", type=Path, default=[], help="JSONL-Fragensätze")
    ev.add_argument("--out", type=Path, default=Path("evals/out"), help="Ausgabeordner")
    ev.add_argument("--compare", type=Path, help="frühere metrics.json: Rückschritte markieren")
    ev.add_argument("--index", type=Path, help="Index-Ordner für --questions (Standard: index/)")
    ev.add_argument("--sets", nargs="*", default=[], help="nur diese Sätze aus evals/sets.toml")
    ev.add_argument("--mode", choices=["extractive", "llm"], help="Antwortmodus (Standard: "
                    "Einstellung answer_mode); llm startet das Sprachmodell")
    srv = sub.add_parser("serve", help="Web-App starten: Oberfläche, REST- und OpenAI-API.")
    srv.add_argument("--host", help="Adresse (Standard: Einstellung host = 127.0.0.1, nur dieser "
                     "Rechner; jede andere nur mit ASSISTANT_API_KEY)")
    srv.add_argument("--port", type=int, help="Port (Standard: Einstellung port = 8000)")
    srv.add_argument("--index", type=Path, help="Index-Ordner (Standard: index/)")
    ms = sub.add_parser("model-server", help="Das lokale Sprachmodell als eigenen Server starten, "
                        "den mehrere App-Prozesse teilen (dort llm = openai).")
    ms.add_argument("--host", default="127.0.0.1", help="Adresse (Standard: 127.0.0.1)")
    ms.add_argument("--port", type=int, default=8081, help="Port (Standard: 8081)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one CLI command; return the process exit code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    overrides: dict = {"index_dir": args.index} if getattr(args, "index", None) else {}
    if getattr(args, "mode", None) == "llm":
        overrides["answer_mode"] = "llm"
    overrides |= {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    settings = Settings(**overrides)
    if settings.answer_mode == "llm" and settings.llm == "off":
        settings = Settings(**overrides, llm="llama-cpp")  # the packaged local model
    if args.command == "ingest" or args.command == "ask" and settings.answer_mode != "llm":
        settings = settings.model_copy(update={"llm": "off"})  # no model process to start

    if args.command == "model-server":
        from assistant.answer.model_process import main as model_server

        return model_server(["--host", args.host, "--port", str(args.port)])

    if args.command == "eval":
        from assistant.evaluate.runner import main as run_eval

        return run_eval(args.questions, args.out, args.compare, settings, args.sets)

    if args.command == "serve":
        from assistant.serve.security import bind_problem

        if problem := bind_problem(settings.host, settings.api_key):  # before any model loads
            print(problem, file=sys.stderr)
            return 2

    from assistant.pipeline import build_pipeline  # after settings: models load here, once

    pipeline = build_pipeline(settings)
    if args.command == "serve":
        from assistant.serve.api import serve

        return serve(pipeline)
    if args.command == "ingest":
        report = pipeline.ingest(args.paths or None, progress=not args.quiet)
        print(ingest_summary(report), file=sys.stderr)
        return 0 if report.documents or not report.errors else 1
    if pipeline.store.count() == 0:
        print("Der Index ist leer. Bitte zuerst `python -m assistant ingest` ausführen.",
              file=sys.stderr)
        return 2
    history = json.loads(args.history.read_text(encoding="utf-8")) if args.history else []
    answer = pipeline.ask(args.question, history, args.mode)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        print(format_answer(answer))
    return 0
