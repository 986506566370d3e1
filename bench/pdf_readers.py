"""Choose a PDF text extractor by measurement: pypdfium2 vs pypdf vs pdfplumber on two German PDFs.

Each (reader, PDF) pair runs in its own subprocess (10-minute cap) so that time and peak RSS
(VmHWM) are separate; the time covers opening the PDF and extracting every page's text.
Quality proxies: ligatures U+FB00-FB06 (before NFKC), words hyphenated across a line end,
"glued" tokens over 30 letters (lost spaces), U+FFFE/U+FFFD, control chars.
Also records whether the reader exposes page labels and an outline with page numbers, and saves
physical page 21 of the Debian Edu manual and page 100 of the book for a side-by-side read.
Usage: python bench/pdf_readers.py [--shared ../shared]
Outputs: bench/out/pdf_readers.json, bench/out/pdf_readers.png, bench/out/pdf_readers/*.txt
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PDFS = {"debian-edu-bookworm-manual.pdf": 21, "debian-paketmanagement.pdf": 100}  # file -> spot page
READERS = ("pypdfium2", "pypdf", "pdfplumber")
TIMEOUT_S = 600
HYPHEN_BREAK = re.compile(r"[a-zäöüß]-\s*\n\s*[a-zäöüß]")
LONG_TOKEN = re.compile(r"[^\W\d_]{31,}")


def read_pypdfium2(path: Path) -> tuple[list[str], dict]:
    """Per-page text via get_text_range() (the pipeline's call), then labels and outline."""
    import pypdfium2 as pdfium

    start = time.perf_counter()
    pdf = pdfium.PdfDocument(str(path))
    texts = []
    for i in range(len(pdf)):
        page = pdf[i]
        textpage = page.get_textpage()
        texts.append(textpage.get_text_range())
        textpage.close()
        page.close()
    seconds = time.perf_counter() - start
    labels = [pdf.get_page_label(i) for i in range(len(pdf))]
    outline = [b.get_dest().get_index() for b in pdf.get_toc() if b.get_dest() is not None]
    pdf.close()
    return texts, {"seconds": seconds, "labels": labels, "outline_pages": outline,
                   "outline_entries": len(outline)}


def read_pypdf(path: Path) -> tuple[list[str], dict]:
    """Per-page text via PdfReader.pages[i].extract_text(), then page_labels and outline."""
    from pypdf import PdfReader

    start = time.perf_counter()
    reader = PdfReader(str(path))
    texts = [page.extract_text() for page in reader.pages]
    seconds = time.perf_counter() - start

    def walk(items: list) -> list:
        """Outline entries in document order; nested lists are sub-levels."""
        return [d for it in items for d in (walk(it) if isinstance(it, list) else [it])]

    flat = walk(reader.outline)
    outline = [reader.get_destination_page_number(d) for d in flat]
    return texts, {"seconds": seconds, "labels": list(reader.page_labels), "outline_pages": outline,
                   "outline_entries": len(flat)}


def read_pdfplumber(path: Path) -> tuple[list[str], dict]:
    """Per-page text via page.extract_text() (page closed after use); labels/outline via pdfminer."""
    import pdfplumber

    start = time.perf_counter()
    with pdfplumber.open(str(path)) as pdf:
        texts = []
        for page in pdf.pages:
            texts.append(page.extract_text() or "")
            page.close()
        seconds = time.perf_counter() - start
        # pdfminer's get_page_labels() is an endless generator: zip it with the pages.
        try:
            labels = [lab for lab, _ in zip(pdf.doc.get_page_labels(), texts, strict=False)]
        except Exception:  # pdfminer raises PDFNoPageLabels when the PDF has none
            labels = []
        entries = list(pdf.doc.get_outlines())  # (level, title, dest, action, se): no page numbers
    return texts, {"seconds": seconds, "labels": labels, "outline_pages": [], "outline_entries": len(entries)}


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def quality(texts: list[str]) -> dict:
    """Text-quality proxies over all pages (ligatures before NFKC, the rest after)."""
    raw = "\n".join(texts)
    nfkc = unicodedata.normalize("NFKC", raw)
    return {
        "chars": len(raw),
        "ligatures": sum(0xFB00 <= ord(c) <= 0xFB06 for c in raw),
        "hyphen_breaks": len(HYPHEN_BREAK.findall(nfkc)),
        "glued_words": len(LONG_TOKEN.findall(nfkc)),
        "glued_examples": sorted(set(LONG_TOKEN.findall(nfkc)), key=len)[-3:],
        "u_fffe": raw.count("\ufffe"),
        "u_fffd": raw.count("\ufffd"),
        "control_chars": sum(ord(c) < 32 and c not in "\t\n\r" for c in raw),
        "empty_pages": sum(not t.strip() for t in texts),
    }


def child(reader: str, path: Path, spot: int) -> None:
    """Run one reader on one PDF, save the spot page, print the measurements as JSON."""
    texts, extra = globals()[f"read_{reader}"](path)  # times the text extraction only
    rss = peak_rss_mb()
    seconds = extra.pop("seconds")
    labels = extra.pop("labels")
    outline_pages = extra.pop("outline_pages")
    spot_file = OUT / "pdf_readers" / f"{reader}-{path.stem}-p{spot}.txt"
    spot_file.parent.mkdir(parents=True, exist_ok=True)
    spot_file.write_text(texts[spot - 1], encoding="utf-8")
    print(json.dumps({
        "reader": reader, "pdf": path.name, "pages": len(texts), "seconds": round(seconds, 2),
        "pages_per_s": round(len(texts) / seconds, 1), "peak_rss_mb": round(rss, 1),
        **quality(texts), **extra,
        "labels": any(lab != str(i + 1) for i, lab in enumerate(labels)),
        "spot_label": labels[spot - 1] if labels else None,
        "outline": bool(outline_pages), "outline_first_pages": outline_pages[:5],
        "spot_file": str(spot_file.relative_to(ROOT)),
    }))


def run(reader: str, path: Path, spot: int) -> dict:
    """One (reader, PDF) measurement in a fresh subprocess; a timeout or crash is reported as such."""
    cmd = [sys.executable, __file__, "--child", reader, str(path), str(spot)]
    base = {"reader": reader, "pdf": path.name}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timeout after {TIMEOUT_S} s"}
    if proc.returncode != 0:
        return {**base, "error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    """The results as a Markdown table."""
    cols = ["reader", "pdf", "pages", "seconds", "pages/s", "peak RSS MB", "ligatures", "hyphen breaks",
            "glued words", "U+FFFE", "U+FFFD", "labels", "outline"]
    keys = ["reader", "pdf", "pages", "seconds", "pages_per_s", "peak_rss_mb", "ligatures", "hyphen_breaks",
            "glued_words", "u_fffe", "u_fffd", "labels", "outline"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if "error" in r:
            cells = [r["reader"], r["pdf"], r["error"]] + [""] * (len(cols) - 3)
        else:
            cells = [("yes" if r[k] else "no") if isinstance(r[k], bool) else str(r[k]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(rows: list[dict], png: Path) -> None:
    """Grouped bar chart of pages/s and peak RSS per reader and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(PDFS)
    panels = [("pages_per_s", "pages/s (higher is better)"), ("peak_rss_mb", "peak RSS MB (lower is better)")]
    for ax, (key, title) in zip(axes, panels, strict=True):
        for j, pdf in enumerate(PDFS):
            vals = [next((r.get(key, 0) for r in rows if r["reader"] == rd and r["pdf"] == pdf), 0)
                    for rd in READERS]
            bars = ax.bar([i + j * width for i in range(len(READERS))], vals, width, label=pdf)
            ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.set_xticks([i + width * (len(PDFS) - 1) / 2 for i in range(len(READERS))], READERS)
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> int:
    """Parse arguments, run every (reader, PDF) pair, print and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--child", nargs=3, metavar=("READER", "PDF", "PAGE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return 0
    corpora = args.shared / "corpora"
    missing = [name for name in PDFS if not (corpora / name).is_file()]
    if missing:
        print(f"PDFs not found in {corpora}: {', '.join(missing)} (pass --shared DIR)", file=sys.stderr)
        return 2
    rows = []
    for reader in READERS:
        for name, spot in PDFS.items():
            print(f"running {reader} on {name} ...", file=sys.stderr, flush=True)
            rows.append(run(reader, corpora / name, spot))
    print(table(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pdf_readers.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    chart(rows, OUT / "pdf_readers.png")
    print(f"\nwrote {OUT / 'pdf_readers.json'}, {OUT / 'pdf_readers.png'}, {OUT / 'pdf_readers'}/*.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
