"""Ingestion into a real Chroma on disk and the BM25 ledger: idempotent, per-document updates."""

from pathlib import Path

from assistant.indexing.chunking import CHUNKER_VERSION
from assistant.pipeline import build_pipeline
from tests.conftest import FakeEmbedder, make_settings


def _spy(store):
    calls = {"add": 0, "delete": 0}
    real_add, real_delete = store.add, store.delete

    def add(chunks, vectors):
        calls["add"] += len(chunks)
        return real_add(chunks, vectors)

    def delete(ids):
        calls["delete"] += len(ids)
        return real_delete(ids)

    store.add, store.delete = add, delete
    return calls


def test_first_ingest_indexes_the_seed_and_reports_missing_reports(fake_pipeline):
    assert fake_pipeline.store.count() == fake_pipeline.lexical.count() > 5
    report = fake_pipeline.ingest(progress=False)
    assert report.documents == 1
    assert {m.split(" (")[0] for m in report.missing} == {
        "Projektbericht Modellkommunen", "E-Government Kochbuch", "Ergebnis der BMI-Onlineumfrage"}


def test_reingesting_an_unchanged_corpus_writes_nothing(fake_pipeline, fake_embedder):
    before = fake_embedder.passages_embedded
    calls = _spy(fake_pipeline.store)
    report = fake_pipeline.ingest(progress=False)
    assert (report.added, report.removed) == (0, 0)
    assert report.unchanged == fake_pipeline.store.count()
    assert calls == {"add": 0, "delete": 0}
    assert fake_embedder.passages_embedded == before


def test_a_changed_document_replaces_only_its_own_chunks(fake_pipeline, corpus_copy: Path):
    (corpus_copy / "notiz.md").write_text("# Notiz\n\nDas Bürgerbüro Düren öffnet montags.\n\n"
                                          "## Zweitens\n\nDie E-Akte kommt 2017.\n", encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    seed_ids = fake_pipeline.store.ids_of("kooperation-der-erprobungsraeume.txt")
    old_note = fake_pipeline.store.ids_of("notiz.md")
    (corpus_copy / "notiz.md").write_text("# Notiz\n\nDas Bürgerbüro Düren öffnet dienstags.\n\n"
                                          "## Zweitens\n\nDie E-Akte kommt 2017.\n", encoding="utf-8")
    calls = _spy(fake_pipeline.store)
    report = fake_pipeline.ingest(progress=False)
    new_note = fake_pipeline.store.ids_of("notiz.md")
    assert fake_pipeline.store.ids_of("kooperation-der-erprobungsraeume.txt") == seed_ids
    assert len(new_note) == len(old_note) and new_note != old_note
    assert calls["add"] == report.added == len(new_note - old_note)
    assert calls["delete"] == report.removed == len(old_note - new_note)
    assert fake_pipeline.lexical.ids_of("notiz.md") == new_note
    hits = fake_pipeline.retrieve("Wann öffnet das Bürgerbüro Düren?")
    assert "dienstags" in hits[0].chunk.text


def test_a_deleted_file_is_removed_from_both_indexes(fake_pipeline, corpus_copy: Path):
    note = corpus_copy / "weg.txt"
    note.write_text("Der Ortenaukreis startete ein Pilotprojekt zur E-Rechnung.", encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    assert fake_pipeline.store.ids_of("weg.txt")
    note.unlink()
    report = fake_pipeline.ingest(progress=False)
    assert report.removed == 1
    assert not fake_pipeline.store.ids_of("weg.txt") and not fake_pipeline.lexical.ids_of("weg.txt")
    assert "weg.txt" not in fake_pipeline.lexical.docs()


def test_ingesting_a_single_file_keeps_the_rest(fake_pipeline, tmp_path: Path):
    extra = tmp_path / "extra.txt"
    extra.write_text("Norderstedt digitalisierte das Meldewesen.", encoding="utf-8")
    before = fake_pipeline.store.count()
    report = fake_pipeline.ingest([extra], progress=False)
    assert report.added == 1 and report.removed == 0
    assert fake_pipeline.store.count() == before + 1


def test_collection_name_carries_model_and_chunker_version(tmp_path: Path, corpus_copy: Path):
    p = build_pipeline(make_settings(tmp_path, corpus_copy), embedder=FakeEmbedder())
    assert p.store.name == f"chunks-fake-bow-{CHUNKER_VERSION}"


def test_a_bad_file_is_reported_and_the_rest_is_indexed(tmp_path: Path, corpus_copy: Path):
    (corpus_copy / "kaputt.pdf").write_bytes(b"%PDF-1.7\n%%broken")
    p = build_pipeline(make_settings(tmp_path, corpus_copy), embedder=FakeEmbedder())
    report = p.ingest(progress=False)
    assert report.documents == 1 and report.added > 5
    assert len(report.errors) == 1 and "kaputt.pdf" in report.errors[0]


def test_index_survives_a_restart(fake_pipeline, tmp_path: Path):
    again = build_pipeline(fake_pipeline.settings, embedder=FakeEmbedder())
    assert again.store.count() == fake_pipeline.store.count()
    assert again.ingest(progress=False).added == 0


def test_a_new_analyzer_version_rebuilds_bm25_from_the_vector_store(fake_pipeline, monkeypatch):
    # after an update whose analyzer writes another BM25 file, nothing is lost or embedded again
    import assistant.pipeline

    question = "Wer nahm am 13. Juni 2016 teil?"
    before = fake_pipeline.lexical.docs(), fake_pipeline.lexical.hashes()
    answer = fake_pipeline.ask(question)
    monkeypatch.setattr(assistant.pipeline, "ANALYZER_VERSION", "next")
    embedder = FakeEmbedder()
    updated = build_pipeline(fake_pipeline.settings, embedder=embedder)
    assert (updated.lexical.docs(), updated.lexical.hashes()) == before
    assert updated.lexical.count() == fake_pipeline.store.count()
    again = updated.ask(question)
    assert not again.refused and again.text == answer.text
    report = updated.ingest(progress=False)
    assert (report.added, report.removed) == (0, 0) and embedder.passages_embedded == 0


def test_chunks_of_a_first_ingest_that_died_are_not_restored_on_the_next_start(tmp_path, corpus_copy):
    # a first ingest killed after its Chroma writes and before its BM25 commit: the BM25 file
    # exists and is empty, and nothing says which stored chunks were committed
    from assistant.indexing.chunking import chunk
    from assistant.read.corpus import load_document

    settings = make_settings(tmp_path, corpus_copy)
    dead = build_pipeline(settings, embedder=FakeEmbedder())
    doc = load_document(corpus_copy / "kooperation-der-erprobungsraeume.txt").doc
    chunks = chunk(doc, settings.chunk_max_chars)
    dead.lexical.mark_pending(doc.id)
    dead.store.add(chunks, dead.embedder.embed_passages([c.text for c in chunks]))
    again = build_pipeline(settings, embedder=FakeEmbedder())
    assert again.store.count() == len(chunks) and again.lexical.count() == 0
    assert again.retrieve("Wer nahm am 13. Juni 2016 teil?") == []  # half a write stays invisible


def test_an_unchanged_file_is_not_even_read_again(tmp_path, fake_embedder, monkeypatch):
    import assistant.indexing.ingest as ingest_mod
    from assistant.pipeline import build_pipeline
    from tests.conftest import make_settings

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Der Lenkungskreis tagte am 3. Mai 2018 in Bremen.", encoding="utf-8")
    (corpus / "b.txt").write_text("Die Sitzung in Hannover fand im Juni statt.", encoding="utf-8")
    p = build_pipeline(make_settings(tmp_path, corpus), embedder=fake_embedder)
    assert p.ingest(progress=False).added == 2
    reads = []
    real = ingest_mod.load_document
    monkeypatch.setattr(ingest_mod, "load_document", lambda f, e: reads.append(f.name) or real(f, e))
    again = p.ingest(progress=False)
    assert reads == [] and again.unchanged == 2 and again.added == 0 and again.documents == 2
    (corpus / "b.txt").write_text("Die Sitzung in Hannover fand im Juli statt.", encoding="utf-8")
    changed = p.ingest(progress=False)
    assert reads == ["b.txt"] and changed.added == 1 and changed.removed == 1
    [top, *_] = p.retrieve("Sitzung in Hannover")
    assert "im Juli statt" in top.chunk.text
    # a removed document is read again when its file comes back, even with the same bytes
    p.remove_document(next(d for d in p.lexical.docs() if "b" in d))
    assert p.ingest(progress=False).added == 1 and reads[-1] == "b.txt"
