"""Hybrid retrieval: fusion arithmetic, date notations, German word forms, both sides used."""

import pytest

from assistant.pipeline import build_pipeline
from assistant.retrieve.retrieval import FusionParams, document_names, fuse
from assistant.types import Chunk
from tests.conftest import make_settings


def _c(i: str) -> Chunk:
    return Chunk(id=i, doc_id="d", title="T", source="s", text=i, start=0, end=1)


def test_reciprocal_rank_fusion_rewards_agreement_and_respects_weights():
    dense = [(_c("a"), 0.9), (_c("b"), 0.8), (_c("c"), 0.7)]
    lexical = [("b", 5.0), ("c", 4.0), ("x", 3.0)]
    fused = fuse(dense, lexical, FusionParams(rrf_k=60, dense_weight=1.0, lexical_weight=1.0))
    assert [cid for cid, _ in fused] == ["b", "c", "a", "x"]  # agreement beats one first place
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    lexical_heavy = fuse(dense, lexical, FusionParams(rrf_k=60, dense_weight=0.2, lexical_weight=1.0))
    assert [cid for cid, _ in lexical_heavy][:3] == ["b", "c", "x"]
    only_dense = fuse(dense, lexical, FusionParams(rrf_k=60, dense_weight=1.0, lexical_weight=0.0))
    assert [cid for cid, s in only_dense if s > 0] == ["a", "b", "c"]


@pytest.mark.parametrize("question", [
    "Was war am 13.6.2016?", "Was war am 13.06.2016?", "Was war am 13. Juni 2016?",
    "Was war am 2016-06-13?",
])
def test_date_variants_find_the_same_passage(fake_pipeline, question):
    top = fake_pipeline.retrieve(question)[0]
    assert "13. Juni 2016" in top.chunk.text
    assert "bm25" in top.why


def test_inflected_and_umlaut_free_forms_meet(fake_pipeline):
    top = fake_pipeline.retrieve("Gesprache auf Fuhrungsebene")[0]
    assert "Gespräch auf Führungsebene" in top.chunk.text


def test_compound_head_reaches_the_simple_word(fake_pipeline):
    ids = [h.chunk.id for h in fake_pipeline.retrieve("Welche Modellkommunen gibt es?")]
    texts = [fake_pipeline.store.get([i])[i].text for i in ids]
    assert any("folgenden Kommunen ausgewählt" in t for t in texts)


def test_hits_carry_both_scores_and_pages_are_none_for_the_web_page(fake_pipeline):
    hits = fake_pipeline.retrieve("Staatssekretär Klaus Vitt Einladung")
    assert len(hits) == fake_pipeline.settings.top_k
    assert hits[0].dense is not None and hits[0].lexical is not None
    assert hits[0].chunk.page is None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_each_part_of_a_two_part_question_brings_its_own_passage(tmp_path, fake_embedder):
    # The whole question's words pull the office paragraph and its neighbours; the deputy
    # sits in another document and is found only by the part that asks for it.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zustaendigkeit.md").write_text(
        "# Zuständigkeiten\n\nFür Baugenehmigungen ist das Bauordnungsamt zuständig.\n\n"
        "# Bauberatung\n\nDas Bauordnungsamt berät zu Baugenehmigungen und Bauanträgen.\n\n"
        "# Gebühren\n\nFür Baugenehmigungen erhebt das Bauordnungsamt Gebühren.\n", "utf-8")
    (docs / "vertretung.md").write_text(
        "# Vertretung\n\nDie Sachbearbeitung vertritt im Verhinderungsfall Frau Petersen.\n", "utf-8")
    p = build_pipeline(make_settings(tmp_path, docs, top_k=1), embedder=fake_embedder)
    p.ingest([docs], progress=False)
    question = "Welches Amt ist für Baugenehmigungen zuständig und wer vertritt die Sachbearbeitung?"
    texts = [h.chunk.text for h in p.retrieve(question)]
    assert any("Bauordnungsamt zuständig" in t for t in texts)
    assert any("Frau Petersen" in t for t in texts)
    assert len(p.retrieve("Wer vertritt die Sachbearbeitung?")) == 1  # one part: k hits


def test_a_passage_naming_another_document_brings_that_documents_best_passage(tmp_path,
                                                                            fake_embedder):
    # The leaflet's passages take every place for "Gewerbeanmeldung"; the fee stands in the
    # statute the leaflet names, and only following that name reaches it.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "merkblatt.md").write_text(
        "# Merkblatt Gewerbeanmeldung (Formular GEW-01)\n\n"
        "## Unterlagen\n\nFür die Gewerbeanmeldung legen Sie den Personalausweis vor. "
        + "Für die Gewerbeanmeldung einer Firma legen Sie den Handelsregisterauszug vor. " * 6
        + "\n\n"
        "## Gebühren\n\nDie Gebühren der Gewerbeanmeldung richten sich nach dem Tarif der "
        "Verwaltungsgebührensatzung.\n\n"
        "## Fristen\n\n" + "Die Gewerbeanmeldung erfolgt mit dem Beginn der Tätigkeit. " * 8
        + "\n", "utf-8")
    (docs / "satzung.md").write_text(
        "# Verwaltungsgebührensatzung der Stadt Musterstadt\n\n"
        "## Tarif\n\n| Tarifstelle | Gegenstand | Gebühr in Euro |\n|---|---|---|\n"
        "| 3.1 | Gewerbe, Beginn eines Betriebs | 31,00 |\n", "utf-8")
    (docs / "ordnung.md").write_text(
        "# Zuständigkeitsordnung der Stadtverwaltung\n\nDas Ordnungsamt ist für Märkte zuständig.\n",
        "utf-8")
    p = build_pipeline(make_settings(tmp_path, docs, top_k=2), embedder=fake_embedder)
    p.ingest([docs], progress=False)
    plain = p.retriever._retrieve("Was kostet die Gewerbeanmeldung?", 2)  # without following
    assert [h.chunk.source.rsplit("/", 1)[-1] for h in plain] == ["merkblatt.md"] * 2
    hits = p.retrieve("Was kostet die Gewerbeanmeldung?")
    sources = [h.chunk.source.rsplit("/", 1)[-1] for h in hits]
    assert sources == ["merkblatt.md", "merkblatt.md", "satzung.md"]
    # the statute's passage follows the passage naming it; the document nobody names stays out
    naming = next(i for i, h in enumerate(hits) if "Verwaltungsgebührensatzung" in h.chunk.text)
    assert "31,00" in hits[naming + 1].chunk.text
    assert "ordnung.md" not in sources


def test_documents_are_named_by_their_file_numbers_or_their_first_long_compound():
    names = document_names({
        "a": "Verwaltungsgebührensatzung der Stadt Musterstadt – Fassung vom 14.11.2023",
        "b": "Verwaltungsgebührensatzung der Stadt Musterstadt – Fassung vom 12.12.2022",
        "c": "Formular KAE-08 – Antrag auf Kostenerstattung",
        "d": "Dienstanweisung zur Bearbeitung von Bauanträgen",
        "e": "Dienstanweisung zur Vertretung im Bauordnungsamt"})
    assert names["a"] == names["b"] == {"verwaltungsgebuhrensatz"}  # versions share their name
    assert names["c"] == {"idkae08"}
    assert names["d"] == names["e"] == frozenset()  # "Dienstanweisung" names neither
