"""Text recognition for scanned PDF pages: Tesseract with its German model, via its command line.

The Debian packages tesseract-ocr and tesseract-ocr-deu provide it (`make run` installs them
where it can). Without them, scanned pages are skipped with a warning per page.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def available() -> bool:
    """True when the tesseract binary and its German language data are installed."""
    exe = shutil.which("tesseract")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "deu" in out.stdout.split()


def recognize(image) -> str:
    """German text of a page image (a PIL image), as Tesseract reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "seite.png"
        image.save(png)
        out = subprocess.run(["tesseract", str(png), "stdout", "-l", "deu", "--psm", "3"],
                             capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return ""
    return out.stdout
