"""How well the sources panel finds a quote on its PDF page (assistant/serve/highlight.py), on the
shared PDFs: 200 random sentences of our reader's text and 150 table rows per PDF, each looked up
on the page the reader gave it; a box is wrong when the characters whose centres lie inside it
(by pdfium's own boxes) are not the quote. Also the render time of 20 random pages at 900 px.

    python bench/highlight_bench.py [--corpora ../shared/corpora]

Prints one table row per PDF and writes bench/out/highlight.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pypdfium2 as pdfium  # noqa: E402

from assistant.read.pdf import read_pdf  # noqa: E402
from assistant.serve import highlight as hl  # noqa: E402
from assistant.text.sentences import sentence_spans  # noqa: E402


def under(pdf, res) -> str:
    """Folded text of the characters whose box centre lies in one of the boxes."""
    out = ""
    for pg, boxes in sorted(res.items()):
        tp = pdf[pg - 1].get_textpage()
        for i in range(tp.count_chars()):
            ch = tp.get_text_range(i, 1)
            if not ch.strip():
                continue
            x0, y0, x1, y1 = tp.get_charbox(i)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in boxes):
                out += ch
    return hl.fold(out)[0]


def measure(f: Path) -> dict:
    r = read_pdf(f, use_ocr=False)
    prose, rows = [], []
    for b in r.blocks:
        if b.page is None or b.ocr:
            continue
        for a, e in sentence_spans(b.text):
            s = b.text[a:e].strip()
            if b.role == "table" and len(s) >= 10:
                rows.append((b.page_at(a), s))
            elif b.role != "table" and len(s) >= 20:
                prose.append((b.page_at(a), s))
    prose = random.sample(prose, min(200, len(prose)))
    rows = random.sample(rows, min(150, len(rows)))
    pdf = pdfium.PdfDocument(str(f))
    out = {"pdf": f.name, "pages": len(pdf), "prose": len(prose), "rows": len(rows),
           "prose_found": 0, "rows_found": 0, "wrong": 0}
    for kind, sample in (("prose", prose), ("rows", rows)):
        for p, q in sample:
            res = hl.locate(f, p, q)
            if not res:
                continue
            out[f"{kind}_found"] += 1
            got, whole = under(pdf, res), hl.fold(q)[0]
            keys = [k for k in (hl.fold(c)[0] for c in (hl._row_cells(q) or [q])) if k]
            rest = got
            for k in sorted({whole, *keys}, key=len, reverse=True):
                rest = rest.replace(k, "")
            if not (whole in got or all(k in got for k in keys)) or len(rest) > 2:
                out["wrong"] += 1
    times = []
    for p in random.sample(range(1, len(pdf) + 1), min(20, len(pdf))):
        t = time.perf_counter()
        hl.render_png(f, p, "", 900)
        times.append(time.perf_counter() - t)
    pdf.close()
    out["render_ms_median"] = round(statistics.median(times) * 1000)
    out["render_ms_max"] = round(max(times) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    args = ap.parse_args()
    pdfs = sorted(args.corpora.glob("*.pdf"))
    if not pdfs:
        sys.exit(f"Keine PDFs in {args.corpora} (../shared fehlt?)")
    random.seed(7)
    results = [measure(f) for f in pdfs]
    print("| PDF (pages) | prose sentences found | table rows found | wrong box | render median (max) ms |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['pdf']} ({r['pages']}) | {r['prose_found']}/{r['prose']} | "
              f"{r['rows_found']}/{r['rows']} | {r['wrong']} | {r['render_ms_median']} "
              f"({r['render_ms_max']}) |")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "highlight.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
