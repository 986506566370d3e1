"""Benchmark: ingest the 513-page book (../shared/corpora/debian-paketmanagement.pdf) end to end.

Prints a table of the stages (reading pages/s, chunking, embedding chunks/s, writing), the total
time, peak memory (RSS high-water mark of this process), and a second, unchanged re-ingest.
Writes bench/out/ingest_book.json and bench/out/ingest_book.png.
Usage: python bench/ingest_book.py [--shared ../shared] [--pdf NAME]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.indexing.chunking import chunk  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.read.corpus import load_document  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--pdf", default="debian-paketmanagement.pdf")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    pdf = args.shared / "corpora" / args.pdf
    if not pdf.is_file():
        print(f"PDF nicht gefunden: {pdf} (../shared fehlt?)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ingest-book-"))
    docs = tmp / "docs"
    docs.mkdir()
    (docs / pdf.name).symlink_to(pdf.resolve())

    t = time.perf_counter()
    loaded = load_document(docs / pdf.name)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    chunks = chunk(loaded.doc)
    chunk_s = time.perf_counter() - t

    p = build_pipeline(Settings(corpus_dir=docs, index_dir=tmp / "index"))
    t = time.perf_counter()
    report = p.ingest([docs], progress=True)
    total_s = time.perf_counter() - t
    write_s = report.seconds - report.read_seconds - report.embed_seconds
    t = time.perf_counter()
    again = p.ingest([docs], progress=False)
    again_s = time.perf_counter() - t

    rows = {
        "pages": loaded.pages,
        "chunks": len(chunks),
        "read_s": read_s,
        "pages_per_s": loaded.pages / read_s,
        "chunk_s": chunk_s,
        "embed_s": report.embed_seconds,
        "chunks_per_s": report.added / report.embed_seconds if report.embed_seconds else 0.0,
        "write_and_other_s": write_s,
        "total_s": total_s,
        "reingest_s": again_s,
        "reingest_added": again.added,
        "peak_rss_mb": peak_rss_mb(),
    }
    print("\n| stage | figure |\n|---|---|")
    print(f"| read {rows['pages']} pages | {read_s:.1f} s ({rows['pages_per_s']:.0f} pages/s) |")
    print(f"| chunk | {chunk_s:.2f} s ({rows['chunks']} chunks) |")
    print(f"| embed | {report.embed_seconds:.0f} s ({rows['chunks_per_s']:.1f} chunks/s) |")
    print(f"| write Chroma + BM25, other | {write_s:.1f} s |")
    print(f"| **total** | **{total_s:.0f} s** |")
    print(f"| re-ingest unchanged | {again_s:.2f} s, {again.added} chunks added |")
    print(f"| peak memory (RSS) | {rows['peak_rss_mb']:.0f} MB |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_book.json").write_text(json.dumps(rows, indent=2))
    _chart(rows, args.out / "ingest_book.png")
    return 0


def _chart(rows: dict, path: Path) -> None:
    """A bar chart of the time per stage."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib fehlt: kein Diagramm", file=sys.stderr)
        return
    stages = ["read_s", "chunk_s", "embed_s", "write_and_other_s"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(["Lesen", "Zerlegen", "Einbetten", "Schreiben"], [rows[s] for s in stages])
    ax.set_xlabel("Sekunden")
    ax.set_title(f"Einlesen: {rows['pages']} Seiten, {rows['chunks']} Abschnitte")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
