"""Benchmark (performance, part 2): query latency p50/p95 at 1k, 10k and 100k chunks.

The index grows from a pool of real chunks (both shared PDFs and the XQuAD-de paragraphs, chunked
as ingest does), embedded once (vectors cached in <out>/embed_cache.npy); repeats with distinct
chunk and document ids fill it up, written through VectorStore.add and LexicalIndex.replace_doc.
At each size, for German XQuAD questions: our hybrid retrieval (and its parts), the extractive
answer end to end (Pipeline.ask), the llama-index retriever and query engine over the same Chroma
collection and embedder, BM25 alone on common Debian terms, the start-up of a fresh process on
the index, and adding one document. --llm adds the local model's time to first token.

Usage: python bench/perf_query.py [--quick] [--sizes 1000,10000,100000] [--queries 100] [--llm]
Writes perf_query.json/.md/.png to --out (default bench/out/); keeps the index in <out>/query-index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.indexing.chunking import chunk, embedding_text, lexical_text  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.read.corpus import load_document  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from bench import common  # noqa: E402

COMMON_TERMS = ["Wie installiere ich ein Paket mit apt unter Debian?", "Welche Pakete sind auf dem "
                "System installiert?", "Was ist eine Paketquelle?", "Wie aktualisiere ich das System?",
                "Was macht dpkg mit einem Paket?"]
STARTUP = """import json, sys, time
t0 = time.perf_counter()
from assistant.pipeline import build_pipeline
from assistant.settings import Settings
p = build_pipeline(Settings(index_dir=sys.argv[1]))
t1 = time.perf_counter()
p.retrieve("Wie installiere ich ein Paket?")
t2 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "first_query_s": t2 - t1, "chunks": p.store.count(),
                  "bm25_chunks": p.lexical.count()}))
"""


def pool(shared: Path, cap: int) -> list:
    """Distinct real chunks: both PDFs, then the XQuAD-de paragraphs (capped, mixed, for --quick)."""
    sources = []
    for name in (common.BOOK, common.HANDBOOK):
        sources.append(chunk(load_document(shared / "corpora" / name).doc))
    paragraphs, _ = common.load_xquad(shared / "benchmarks" / "xquad.de.dev.json")
    docs = common.write_paragraphs(paragraphs)
    sources.append([c for f in sorted(docs.iterdir()) for c in chunk(load_document(f).doc)])
    if not cap:
        return [c for s in sources for c in s]
    each = cap // len(sources)
    return [c for s in sources for c in s[len(s) // 4: len(s) // 4 + each]]


def grow(p, chunks: list, vectors, target: int, clock: dict) -> None:
    """Add repeats of the pool (ids and doc ids suffixed ~r) until the index holds `target` chunks."""
    n = p.store.count()
    while n < target:
        r, i = divmod(n, len(chunks))
        part = chunks[i: i + target - n]
        if r:
            part = [replace(c, id=f"{c.id}~{r}", doc_id=f"{c.doc_id}~{r}") for c in part]
        for a in range(0, len(part), 1000):
            t = time.perf_counter()
            p.store.add(part[a:a + 1000], vectors[i + a: i + a + min(1000, len(part) - a)])
            clock["chroma_s"] = clock.get("chroma_s", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        by_doc: dict[str, list] = {}
        for c in part:
            by_doc.setdefault(c.doc_id, []).append(c)
        for doc_id, cs in by_doc.items():
            p.lexical.replace_doc(doc_id, "bench", "", cs[0].title,
                                  [(c.id, lexical_text(c)) for c in cs], [], len(cs))
        clock["bm25_s"] = clock.get("bm25_s", 0.0) + time.perf_counter() - t
        n += len(part)


def llama_parts(p, index_dir: Path):
    """llama-index retriever and query engine (no LLM: response_mode no_text) on our collection."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Settings as LlamaSettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(index_dir / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.get_collection(p.store.name))
    index = VectorStoreIndex.from_vector_store(store, embed_model=common.llama_embed_model(p.embedder))
    k = p.settings.top_k
    LlamaSettings.llm = MockLLM()  # no_text never calls it, but the synthesizer insists on one
    return (index.as_retriever(similarity_top_k=k),
            index.as_query_engine(response_mode="no_text", similarity_top_k=k))


def measure(p, questions: list[str], li) -> dict:
    """Latencies of every path for each question (after a warm-up)."""
    retriever, engine = li
    n = p.settings.candidates
    for q in questions[:3]:
        p.ask(q), retriever.retrieve(q), engine.query(q)
    vecs = {q: p.embedder.embed_query(q) for q in questions}
    paths = {
        "embed query": lambda q: p.embedder.embed_query(q),
        "dense search": lambda q: p.store.query(vecs[q], n),
        "BM25 search": lambda q: p.lexical.search(q, n),
        "ours: retrieval (hybrid)": lambda q: p.retrieve(q),
        "ours: extractive answer": lambda q: p.ask(q, mode="extractive"),
        "llama-index retriever": lambda q: retriever.retrieve(q),
        "llama-index query engine": lambda q: engine.query(q),
    }
    out = {}
    for name, fn in paths.items():
        out[name] = common.percentiles([_time(fn, q) for q in questions])
    out["BM25 search, common terms"] = common.percentiles(
        [_time(p.lexical.search, q, n) for q in COMMON_TERMS * 4])
    out["ours: extractive, common terms"] = common.percentiles([_time(p.ask, q) for q in COMMON_TERMS * 2])
    return out


def _time(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def startup(index_dir: Path) -> dict:
    """A fresh process: imports, model load and opening both indexes; then its first query."""
    r = subprocess.run([sys.executable, "-c", STARTUP, str(index_dir)], cwd=ROOT, check=True,
                       capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    return json.loads(r.stdout.strip().splitlines()[-1])


def add_one(p, chunks: list, vectors) -> dict:
    """Incremental update: one new 10-chunk document into the full index (no rebuild)."""
    part = [replace(c, id=f"{c.id}~new", doc_id="bench-new-doc") for c in chunks[:10]]
    t = time.perf_counter()
    p.store.add(part, vectors[:10])
    t1 = time.perf_counter()
    p.lexical.replace_doc("bench-new-doc", "bench", "", "neu", [(c.id, lexical_text(c)) for c in part],
                          [], len(part))
    t2 = time.perf_counter()
    p.store.delete([c.id for c in part])
    p.lexical.remove_doc("bench-new-doc")
    return {"chroma_ms": 1000 * (t1 - t), "bm25_ms": 1000 * (t2 - t1)}


def llm_ttft(p, questions: list[str]) -> dict:
    """Time from question to the local model's first token (retrieval and prompt included)."""
    from assistant.answer.prompt import build_messages
    from assistant.pipeline import build_generator

    gen = build_generator(Settings(llm="llama-cpp"))
    secs = []
    for q in questions:
        t = time.perf_counter()
        hits = p.retrieve(q)
        msgs = build_messages(q, [h.chunk.text for h in hits], (), p.settings.llm_budget_tokens)
        stream = gen.stream(msgs, p.settings.llm_max_tokens, p.settings.llm_temperature)
        next(iter(stream))
        secs.append(time.perf_counter() - t)
        getattr(stream, "close", lambda: None)()
    return common.percentiles(secs) | {"seconds": secs}


def report(results: dict) -> str:
    """Latency table and index table as Markdown."""
    sizes = list(results)
    names = list(results[sizes[0]]["latency"])
    rows = [[name] + [f"{common.ms(results[s]['latency'][name]['p50_ms'])} / "
                      f"{common.ms(results[s]['latency'][name]['p95_ms'])}" for s in sizes]
            for name in names]
    text = common.table(["p50 / p95 ms"] + [f"{s:,} chunks" for s in sizes], rows)
    rows = [[f"{s:,}", f"{r['write']['chroma_s']:.0f} / {r['write']['bm25_s']:.0f}",
             f"{r['startup']['open_s']:.1f}", f"{r['startup']['first_query_s']:.2f}",
             f"{r['add_one']['chroma_ms']:.0f} / {r['add_one']['bm25_ms']:.0f}", r["loadavg"][0]]
            for s, r in results.items()]
    return text + "\n\n" + common.table(
        ["chunks", "write s, cumulative (Chroma / BM25)", "fresh process: open s",
         "first query s", "add 1 doc of 10 chunks ms (Chroma / BM25)", "load 1 min"], rows)


def chart(results: dict, path: Path) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sizes = list(results)
    for name in ["ours: retrieval (hybrid)", "ours: extractive answer", "llama-index retriever"]:
        ax.plot(sizes, [results[s]["latency"][name]["p95_ms"] for s in sizes], marker="o", label=name)
    ax.axhline(50, ls=":", c="gray")
    ax.axhline(150, ls="--", c="gray")
    ax.set_xscale("log")
    ax.set_xlabel("Abschnitte im Index")
    ax.set_ylabel("p95 ms")
    ax.set_title("Antwortzeit (p95) nach Indexgröße")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="pool of 300, sizes 1000,5000, 20 queries")
    ap.add_argument("--sizes", default="")
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--llm", action="store_true", help="also the local model's time to first token")
    ap.add_argument("--shared", type=Path, default=common.SHARED)
    ap.add_argument("--out", type=Path, default=common.OUT)
    args = ap.parse_args()
    sizes = [int(s) for s in (args.sizes or ("1000,5000" if args.quick else "1000,10000,100000")).split(",")]
    n_queries = args.queries or (20 if args.quick else 100)
    _, qs = common.load_xquad(args.shared / "benchmarks" / "xquad.de.dev.json")
    questions = [q for q, _, _ in qs[:: max(1, len(qs) // n_queries)]][:n_queries]
    chunks = pool(args.shared, 300 if args.quick else 0)
    index_dir = args.out / "query-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    p = build_pipeline(Settings(index_dir=index_dir, corpus_dir=index_dir))
    print(f"Pool: {len(chunks)} Abschnitte", file=sys.stderr)
    vectors = common.embed_cached(p.embedder, [embedding_text(c) for c in chunks],
                                  args.out / "embed_cache.npy", p.settings.embed_batch)
    li, clock, results = llama_parts(p, index_dir), {}, {}
    for size in sizes:
        print(f"{size} Abschnitte …", file=sys.stderr)
        grow(p, chunks, vectors, size, clock)
        results[size] = {"loadavg": common.loadavg(), "write": dict(clock),
                         "latency": measure(p, questions, li), "startup": startup(index_dir),
                         "add_one": add_one(p, chunks, vectors)}
    if args.llm:
        results[sizes[-1]]["llm_ttft"] = llm_ttft(p, questions[:3])
    text = report(results)
    last = results[sizes[-1]]["latency"]
    goals = {"retrieval_p95_le_50ms": last["ours: retrieval (hybrid)"]["p95_ms"] <= 50,
             "extractive_p95_le_150ms": last["ours: extractive answer"]["p95_ms"] <= 150}
    text += f"\n\nGoals at {sizes[-1]:,} chunks: " + ", ".join(f"{k} = {v}" for k, v in goals.items())
    if args.llm:
        t = results[sizes[-1]]["llm_ttft"]
        text += f"\n\nLLM time to first token (question → token): p50 {t['p50_ms'] / 1000:.1f} s"
    print(text)
    common.save(args.out, "perf_query", {"pool": len(chunks), "queries": len(questions),
                                         "results": results, "goals": goals}, text)
    chart(results, args.out / "perf_query.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
