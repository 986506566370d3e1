"""What the browser tests share: Debian's chromium driven by Playwright (skipped with the reason
where it is missing), and a page on the live app that fails its test if any request leaves the
server or a script from a document opens a dialog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("chromium fehlt (/usr/bin/chromium); installieren mit `apt-get install chromium`",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def launched() -> Iterator[Browser]:
    """Chromium for a module's tests (use as the body of a module-scoped fixture)."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@contextmanager
def app_page(browser: Browser, url: str, **context) -> Iterator[Page]:
    """A fresh page on the app at `url`, the question box shown; afterwards no request may have
    left the server and no dialog may have opened."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="de-DE", **context)
    p = ctx.new_page()
    outside, dialogs = [], []
    p.on("request", lambda r: outside.append(r.url)
         if not r.url.startswith((url, "data:", "blob:")) else None)
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.goto(url)
    expect(p.locator("#frage textarea")).to_be_visible(timeout=30_000)
    yield p
    ctx.close()
    assert outside == [], f"Anfragen nach außen: {outside}"
    assert dialogs == [], f"Skript aus einem Dokument lief: {dialogs}"
