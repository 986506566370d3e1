"""Crash safety: an ingest killed with SIGKILL at random points loses nothing that was complete,
and the next run ends with exactly the index of a clean build. Queries during an ingest see
each document whole, in its old or its new version, never a mix and never a missing chunk."""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from fpdf import FPDF

from assistant.indexing.chunking import chunk
from assistant.indexing.ingest import doc_state_hash
from assistant.pipeline import Pipeline, build_pipeline
from assistant.read.corpus import load_document
from assistant.settings import Settings
from tests.conftest import ROOT, FakeEmbedder

WORKER = """
from assistant.pipeline import build_pipeline
from assistant.settings import Settings
from tests.conftest import FakeEmbedder
p = build_pipeline(Settings(), embedder=FakeEmbedder())
print("bereit", flush=True)
r = p.ingest(progress=False)
print("fertig", r.added, r.removed, flush=True)
"""

WORDS = ("Verwaltung Bürgeramt Antrag Verfahren Landkreis Digitalisierung Akte Portal Schnittstelle "
         "Meldewesen Gewerbe Wohngeld Bauantrag Rechnung Signatur Register Datenschutz Beteiligung "
         "Sitzung Haushalt Schule Feuerwehr Abfall Standesamt Kita Bibliothek Förderung").split()
DOCS = 21
ROUNDS = 12  # kills; 10 or more must land while the ingest runs
SYLLABLES = "ka lo ri wen tor mu sa bel fin gor da pel quin ros tam vey".split()


def _key(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()


def _paragraph(rng: random.Random) -> str:
    return " ".join(f"Die {rng.choice(WORDS)} in {rng.choice(WORDS)}stadt prüft {rng.choice(WORDS)} "
                    f"und {rng.choice(WORDS)} seit {rng.randint(1990, 2024)}." for _ in range(4))


def _key_sentence(key: str) -> str:
    return f"{key}."  # invented words, shared with no other document


def write_doc(folder: Path, n: int, version: int, rng: random.Random) -> tuple[str, str]:
    """A generated report (Markdown, every fifth one a PDF); returns (file name, key word)."""
    key = " ".join([f"{_key(rng)}{version}"] + [_key(rng) for _ in range(5)])
    paras = [_paragraph(rng) for _ in range(9)]
    paras.insert(rng.randint(0, 8), _key_sentence(key))  # its three words occur nowhere else
    if n % 5 == 0:
        name = f"bericht-{n:02d}.pdf"
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        for i in range(0, len(paras), 3):
            pdf.add_page()
            for p in paras[i:i + 3]:
                pdf.multi_cell(0, 5, p)
                pdf.ln(4)
        pdf.output(str(folder / name))
    else:
        name = f"bericht-{n:02d}.md"
        body = "\n\n".join(f"## Teil {i}\n\n{p}" if i % 3 == 0 or "." not in p[:-1] else p
                             for i, p in enumerate(paras))
        (folder / name).write_text(f"# Bericht {n}\n\n{body}\n", encoding="utf-8")
    return name, key


class Corpus:
    """The generated corpus and, per document version, the chunk ids a clean build gives it."""

    def __init__(self, folder: Path, seed: int, docs: int) -> None:
        self.folder, self.rng = folder, random.Random(seed)
        folder.mkdir(parents=True)
        self.keys: dict[str, str] = {}  # doc id -> key word of its current version
        # (doc id, ledger hash) -> (chunk ids of a clean build, id of the key chunk, key)
        self.versions: dict[tuple[str, str], tuple[set[str], str, str]] = {}
        self.version = 0
        for n in range(docs):
            self.write(n)

    def write(self, n: int) -> None:
        self.version += 1
        name, key = write_doc(self.folder, n, self.version, self.rng)
        doc = load_document(self.folder / name, None).doc
        chunks = chunk(doc, 600)
        key_chunk = next(c.id for c in chunks if _key_sentence(key) in c.text)
        self.versions[(doc.id, doc_state_hash(doc, 600))] = ({c.id for c in chunks}, key_chunk, key)
        self.keys[doc.id] = key

    def delete(self, n: int) -> None:
        f = next(self.folder.glob(f"bericht-{n:02d}.*"))
        f.unlink()
        self.keys.pop(f.name)


def _env(corpus: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "CHROMA_"))}
    return env | {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
                  "ASSISTANT_CONFIG": str(index / "kein.toml"), "ASSISTANT_EMBED_BATCH": "4",
                  "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _start(corpus: Path, index: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=_env(corpus, index),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "bereit"
    return proc


def _open(corpus: Path, index: Path) -> Pipeline:
    """The index as a new process sees it. BM25 weighs double: the fake embedder's sparse vectors
    (mostly orthogonal) now and then make Chroma's HNSW miss the exact nearest chunk."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # read what the other process wrote, not a cached view
    gc.collect()
    settings = Settings(corpus_dir=corpus, index_dir=index, lexical_weight=2.0)
    return build_pipeline(settings, embedder=FakeEmbedder())


def _ledger(index: Path) -> dict[str, str]:
    dbs = list(index.glob("*.bm25-*.sqlite"))
    if not dbs:
        return {}
    with sqlite3.connect(dbs[0]) as con:
        return dict(con.execute("SELECT doc_id, hash FROM docs").fetchall())


def _bm25_rows(index: Path) -> list[tuple[str, str]]:
    db = next(index.glob("*.bm25-*.sqlite"))
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall()
        assert con.execute("SELECT count(*) FROM fts").fetchone()[0] == len(rows)
    return rows


def check_complete_docs(p: Pipeline, corpus: Corpus, before: dict[str, str],
                        rng: random.Random) -> tuple[int, int]:
    """Every document the ledger lists is whole on both sides and answers its key sentence;
    nothing complete before the run was lost; chunks in Chroma that BM25 lacks belong to a
    document marked pending (so the next run finds them). Returns (complete, pending) counts."""
    ledger = p.lexical.hashes()
    for doc_id in before:
        assert doc_id in ledger or doc_id not in corpus.keys, f"{doc_id} ging verloren"
    rows = _bm25_rows(Path(p.settings.index_dir))
    assert {d for _, d in rows} <= set(ledger), "BM25-Zeilen ohne Ledger-Eintrag"
    extra = set(p.store.ids()) - {c for c, _ in rows}
    pending = p.lexical.pending()
    assert {c.split(":")[0] for c in extra} <= set(pending), "Chroma-Waisen ohne Vermerk"
    for doc_id, h in ledger.items():
        ids, _, _ = corpus.versions[(doc_id, h)]
        assert p.lexical.ids_of(doc_id) == ids, f"{doc_id}: BM25 unvollständig"
        assert set(p.store.get(sorted(ids))) == ids, f"{doc_id}: Chroma unvollständig"
    for doc_id in rng.sample(sorted(ledger), min(4, len(ledger))):
        _, key_chunk, key = corpus.versions[(doc_id, ledger[doc_id])]
        hits = p.retrieve(_key_sentence(key))
        assert hits[0].chunk.id == key_chunk and _key_sentence(key) in hits[0].chunk.text
    return len(ledger), len(pending)


def _ids(index: Path) -> tuple[list[str], list[tuple[str, str]]]:
    return _open(Path("."), index).store.ids(), _bm25_rows(index)


def test_sigkill_at_random_points_loses_nothing_and_the_rerun_equals_a_clean_build(tmp_path):
    rng = random.Random(8)
    corpus = Corpus(tmp_path / "corpus", seed=8, docs=DOCS)
    index = tmp_path / "index"
    first = _start(corpus.folder, tmp_path / "probe")
    t0 = time.perf_counter()
    assert first.stdout is not None and first.stdout.readline().startswith("fertig")
    full = time.perf_counter() - t0  # one whole ingest after start-up
    first.wait()
    kills, complete_after_kill = 0, []
    for round_ in range(ROUNDS):
        if round_:  # every run after the first has work: a third of the documents change
            for n in rng.sample(range(DOCS), DOCS // 3):
                if (corpus.folder / f"bericht-{n:02d}.md").exists() or n % 5 == 0:
                    corpus.write(n)
        if round_ == 6:
            corpus.delete(3)
        before = _ledger(index)
        proc = _start(corpus.folder, index)
        time.sleep(rng.uniform(0.0, full * (1.0 if round_ == 0 else 0.5)))
        if proc.poll() is None:
            kills += 1
        proc.kill()
        proc.wait()
        complete_after_kill.append(check_complete_docs(_open(corpus.folder, index), corpus,
                                                       before, rng))
    assert kills >= 10, f"nur {kills} Prozesse mitten im Einlesen getötet"
    rerun = _start(corpus.folder, index)
    assert rerun.stdout is not None and rerun.stdout.readline().startswith("fertig")
    rerun.wait()
    clean = _start(corpus.folder, tmp_path / "clean")
    assert clean.stdout is not None and clean.stdout.readline().startswith("fertig")
    clean.wait()

    chroma, bm25 = _ids(index)
    clean_chroma, clean_bm25 = _ids(tmp_path / "clean")
    expected = set().union(*(corpus.versions[(d, h)][0] for d, h in
                             _open(corpus.folder, tmp_path / "clean").lexical.hashes().items()))
    assert len(chroma) == len(set(chroma)) and len(bm25) == len({c for c, _ in bm25})
    assert set(chroma) == {c for c, _ in bm25} == set(clean_chroma) == expected
    assert sorted(bm25) == sorted(clean_bm25)
    clean_ledger = _ledger(tmp_path / "clean")
    p = _open(corpus.folder, index)
    assert p.lexical.hashes() == clean_ledger and set(clean_ledger) == set(corpus.keys)
    assert not p.lexical.pending()
    check_complete_docs(p, corpus, {}, rng)
    print(f"\nEinlesen ohne Abbruch: {full:.1f} s; {kills} Abbrüche überstanden; (vollständige, "
          f"halb geschriebene) Dokumente danach: {complete_after_kill}; Abschnitte: {len(chroma)} "
          f"(sauberer Aufbau: {len(clean_chroma)})")


class SlowEmbedder(FakeEmbedder):
    """The fake embedder at the pace of a real one, so queries meet an ingest half done."""

    def embed_passages(self, texts):
        time.sleep(0.03 * len(texts))
        return super().embed_passages(texts)


def _report(key: str, n: int) -> str:
    sections = "\n\n".join(f"## Abschnitt {i}\n\n{key if i == 7 else ''} Der Kreis Nummer {i} "
                           f"meldet {i * 3} neue Anträge und {i + 2} Sitzungen." for i in range(n))
    return f"# Wandel\n\n## Konstante\n\nFeldraunitz Ostmoorhagen bleibt wie es ist.\n\n{sections}\n"


def test_queries_during_an_ingest_see_each_document_whole_in_one_version(tmp_path, corpus_copy):
    old_key, new_key = "Altbestand Quornefeld Wimmelbrack.", "Neufassung Quornefeld Zippelgrund."
    (corpus_copy / "wandel.md").write_text(_report(old_key, 16), encoding="utf-8")
    settings = Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", embed_batch=2,
                        lexical_weight=2.0)  # see _open: BM25 decides, the dense side still runs
    p = build_pipeline(settings, embedder=SlowEmbedder())
    p.ingest(progress=False)
    old_ids = p.lexical.ids_of("wandel.md")
    old_chunk = next(c for c in p.store.get(sorted(old_ids)).values() if old_key in c.text)
    (corpus_copy / "wandel.md").write_text(_report(new_key, 16), encoding="utf-8")
    for n in range(4):  # more to do after the changed report, so queries go on meanwhile
        write_doc(corpus_copy, 30 + n, 1, random.Random(n))
    seen: list[tuple[float, bool, bool]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                hits = p.retrieve(f"Quornefeld {old_key} {new_key}")
                texts = {h.chunk.id: h.chunk.text for h in hits}
                assert all(texts.values()) and p.lexical.present(list(texts)) == set(texts)
                has_old = old_chunk.id in texts
                has_new = any(new_key in t for t in texts.values())
                steady = p.retrieve("Feldraunitz Ostmoorhagen")
                assert "Feldraunitz Ostmoorhagen" in steady[0].chunk.text
                seen.append((time.perf_counter(), has_old, has_new))
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                errors.append(e)
                return

    t = threading.Thread(target=ask)
    t.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    report = p.ingest(progress=False)
    t1 = time.perf_counter()
    time.sleep(0.3)
    done.set()
    t.join()
    assert not errors, errors[0]
    assert report.added > 0 and report.removed > 0
    during = [(o, n) for when, o, n in seen if t0 <= when <= t1]
    assert len(during) >= 5, f"nur {len(during)} Abfragen während des Einlesens"
    states = [(o, n) for _, o, n in seen]
    assert all(o != n for o, n in states), "alte und neue Fassung gemischt oder keine"
    switch = states.index((False, True))
    assert states[:switch] == [(True, False)] * switch
    assert states[switch:] == [(False, True)] * (len(states) - switch)
    assert old_chunk.id not in set(p.store.ids()) | p.lexical.ids_of("wandel.md")


def _set_pending(p: Pipeline, doc_id: str, pid: int) -> None:
    """Mark a document as being written by process `pid` (as that process would have)."""
    with sqlite3.connect(next(Path(p.settings.index_dir).glob("*.bm25-*.sqlite"))) as con:
        con.execute("INSERT OR REPLACE INTO pending VALUES (?, ?)", (doc_id, pid))


def test_leftovers_of_a_dead_writer_are_removed_and_a_live_writers_kept(fake_pipeline, tmp_path):
    from assistant.indexing.ingest import recover

    p = fake_pipeline
    name, key = write_doc(tmp_path, 1, 1, random.Random(1))
    chunks = chunk(load_document(tmp_path / name, None).doc, 600)
    doc_id = chunks[0].doc_id
    p.store.add(chunks, FakeEmbedder().embed_passages([c.text for c in chunks]))  # no commit
    committed = p.lexical.count()
    assert p.store.count() == committed + len(chunks)
    assert all(h.chunk.doc_id != doc_id for h in p.retrieve(_key_sentence(key)))  # invisible

    _set_pending(p, doc_id, os.getppid())  # its writer still runs: hands off
    assert recover(p.store, p.lexical) == [] and p.store.count() == committed + len(chunks)

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    _set_pending(p, doc_id, int(dead.stdout))
    assert recover(p.store, p.lexical) == [doc_id]
    assert p.store.count() == committed == len(set(p.store.ids())) and not p.lexical.pending()
