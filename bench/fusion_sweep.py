"""Choose the fusion weights and the candidate depth by measurement on XQuAD-de.

Indexes the 240 German XQuAD paragraphs (one file each) with the default pipeline, then asks
all 912 questions under several fusion settings and prints Recall@1/5 and MRR@10 per setting.
Usage: python bench/fusion_sweep.py [--shared ../shared] [--out bench/out]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from bench.common import shared_xquad, write_paragraphs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    args = ap.parse_args()
    xquad = shared_xquad(args.shared)
    if xquad is None:
        return 2
    paragraphs, questions = xquad
    questions = [(q, g) for q, g, _ in questions[: args.limit or None]]
    docs = write_paragraphs(paragraphs)
    tmp = docs.parent
    p = build_pipeline(Settings(corpus_dir=docs, index_dir=tmp / "index"))
    report = p.ingest([docs], progress=False)
    print(f"{len(paragraphs)} Absätze, {report.added} Abschnitte, {report.seconds:.0f} s", file=sys.stderr)
    base = p.retriever.params
    # embed every question once; the sweep only re-fuses
    cache = {}
    for q, _ in questions:
        cache[q] = (p.store.query(p.embedder.embed_query(q), 50), p.lexical.search(q, 50))
    from assistant.retrieve.retrieval import fuse

    rows = []
    settings = [("dense only", 1.0, 0.0), ("bm25 only", 0.0, 1.0)] + [
        (f"dense {d} / bm25 {b}", d, b) for d, b in
        [(1.0, 1.0), (1.0, 0.7), (1.0, 0.5), (0.7, 1.0), (0.5, 1.0), (1.0, 0.3)]]
    for label, dw, lw in settings:
        for cand in (20, 50):
            params = replace(base, dense_weight=dw, lexical_weight=lw, candidates=cand)
            r1 = r5 = mrr = 0.0
            for q, gold in questions:
                dense, lex = cache[q]
                fused = fuse(dense[:cand], lex[:cand], params)[:10]
                ranks = [i for i, (cid, _) in enumerate(fused) if cid.startswith(f"p{gold:03d}.txt:")]
                if ranks:
                    r1 += ranks[0] == 0
                    r5 += ranks[0] < 5
                    mrr += 1 / (ranks[0] + 1)
            n = len(questions)
            rows.append((label, cand, r1 / n, r5 / n, mrr / n))
    print(f"{'Fusion':<22} {'Kand.':>5} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
    for label, cand, r1, r5, mrr in rows:
        print(f"{label:<22} {cand:>5} {r1:6.3f} {r5:6.3f} {mrr:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
