"""More than one machine: a real Chroma server (`chroma run`) on loopback, one process ingesting,
other processes with their own empty BM25 cache answering from it, and seeing changes live."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.pipeline import build_pipeline
from assistant.settings import Settings
from tests.conftest import ROOT

CHROMA = Path(sys.executable).parent / "chroma"

WORKER = """
import json, sys
from assistant.pipeline import build_pipeline
from assistant.settings import Settings
p = build_pipeline(Settings())
print("bereit", flush=True)
for line in sys.stdin:
    answer, hits = p.ask_with_hits(line.strip())
    print(json.dumps({"answer": answer.to_json(), "docs": p.lexical.docs(),
                      "hits": [[h.chunk.doc_id, h.why, h.chunk.text] for h in hits]},
                     ensure_ascii=False), flush=True)
"""

VISIT = ("# Ortsbesuch\n\nAm 4. März 2019 besuchte eine Delegation aus Wolfenbüttel das "
         "Bürgerbüro in Quedlinburg, um die digitale Terminvergabe kennenzulernen.\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_url(tmp_path: Path):
    """A Chroma server on a free loopback port with its own data folder, stopped afterwards."""
    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.skip("Das Programm `chroma` (aus dem Paket chromadb) fehlt; kein Server-Test möglich.")
    port = _free_port()
    env = os.environ | {"ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([str(CHROMA if CHROMA.exists() else "chroma"), "run", "--path",
                             str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "Chroma-Server startet nicht"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env(url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "CHROMA_"))}
    return env | {"ASSISTANT_CHROMA_URL": url, "ASSISTANT_INDEX_DIR": str(cache),
                  "ASSISTANT_CONFIG": str(cache / "kein.toml"), "ASSISTANT_CHROMA_SYNC_SECONDS": "0.2",
                  "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _ask_worker(worker: subprocess.Popen, question: str) -> dict:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(question + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def _until(worker: subprocess.Popen, question: str, ok, seconds: float = 10.0) -> tuple[dict, float]:
    """Ask again until `ok(reply)`; the reply and how long it took."""
    t0 = time.monotonic()
    while True:
        reply = _ask_worker(worker, question)
        if ok(reply) or time.monotonic() - t0 > seconds:
            return reply, time.monotonic() - t0
        time.sleep(0.1)


def test_one_process_ingests_others_answer_from_the_server_and_follow_changes(
        chroma_url, tmp_path, corpus_copy):
    writer = build_pipeline(Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "writer",
                                     chroma_url=chroma_url))
    first = writer.ingest(progress=False)
    assert first.added == writer.store.count() > 5
    assert not (tmp_path / "writer" / "chroma").exists()  # the vectors live on the server

    # a one-shot CLI process with an empty cache of its own cites the right passage
    cli = subprocess.run([sys.executable, "-m", "assistant", "ask", "--json",
                          "Wer nahm am 13. Juni 2016 am Gespräch auf Führungsebene teil?"],
                         cwd=ROOT, env=_env(chroma_url, tmp_path / "cli"), capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    answer = json.loads(cli.stdout)
    assert not answer["refused"]
    assert answer["citations"][0]["title"] == "Kooperation der Erprobungsräume"
    assert "Staatssekretär Klaus Vitt" in answer["citations"][0]["quote"]
    assert "Herr Staatsrat Lühr" in answer["answer"]

    # a long-running worker (an app process) sees a new document without a restart ...
    worker = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, text=True,
                              env=_env(chroma_url, tmp_path / "worker"), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "bereit"
        question = "Woher kam die Delegation, die das Bürgerbüro in Quedlinburg besuchte?"
        before = _ask_worker(worker, question)
        assert "ortsbesuch.md" not in before["docs"]
        assert all(doc != "ortsbesuch.md" for doc, _, _ in before["hits"])

        (corpus_copy / "ortsbesuch.md").write_text(VISIT, encoding="utf-8")
        assert writer.ingest(progress=False).added == 1
        seen, waited = _until(worker, question, lambda r: r["hits"] and r["hits"][0][0] == "ortsbesuch.md")
        doc, why, text = seen["hits"][0]
        assert doc == "ortsbesuch.md" and "bm25" in why and "Wolfenbüttel" in text, seen["hits"][:2]
        assert "Wolfenbüttel" in seen["answer"]["answer"]
        assert seen["answer"]["citations"][0]["title"] == "Ortsbesuch"
        assert seen["docs"]["ortsbesuch.md"][2] == 1

        # ... a changed one replaces its old passage everywhere, BM25 included ...
        (corpus_copy / "ortsbesuch.md").write_text(VISIT.replace("Wolfenbüttel", "Salzgitter"),
                                                   encoding="utf-8")
        changed = writer.ingest(progress=False)
        assert (changed.added, changed.removed) == (1, 1)
        seen, _ = _until(worker, question, lambda r: bool(r["hits"]) and "Salzgitter" in r["hits"][0][2])
        texts = [t for _, _, t in seen["hits"]]
        assert "Salzgitter" in texts[0] and not any("Wolfenbüttel" in t for t in texts)
        assert "bm25" in seen["hits"][0][1]

        # ... and a deleted one disappears from its ledger and its answers.
        (corpus_copy / "ortsbesuch.md").unlink()
        assert writer.ingest(progress=False).removed == 1
        seen, _ = _until(worker, question, lambda r: "ortsbesuch.md" not in r["docs"])
        assert "ortsbesuch.md" not in seen["docs"]
        assert all(doc != "ortsbesuch.md" for doc, _, _ in seen["hits"])
    finally:
        worker.kill()
        worker.wait()
    assert waited < 5, f"neues Dokument erst nach {waited:.1f} s sichtbar"


def test_chroma_url_comes_from_assistant_chroma_url_or_plain_chroma_url(monkeypatch):
    monkeypatch.delenv("ASSISTANT_CHROMA_URL", raising=False)
    monkeypatch.setenv("ASSISTANT_CONFIG", "/nonexistent/assistant.toml")
    monkeypatch.setenv("CHROMA_URL", "http://10.0.0.5:8000")
    assert Settings().chroma_url == "http://10.0.0.5:8000"
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", "http://10.0.0.6:9000")
    assert Settings().chroma_url == "http://10.0.0.6:9000"
    assert Settings(chroma_url="").chroma_url == ""


def test_a_cache_takes_over_a_document_only_when_all_its_chunks_are_stored(tmp_path):
    """The sync logic without a server process: two caches over one Chroma (on disk)."""
    from assistant.indexing.bm25_cache import SharedLexicalIndex
    from assistant.indexing.chunking import chunk
    from assistant.indexing.store import LedgerEntry, SharedLedger, VectorStore, open_client
    from assistant.read.corpus import load_document
    from tests.conftest import FakeEmbedder

    client = open_client(tmp_path / "chroma")
    store = VectorStore(None, "chunks-test", client=client)
    ledger = SharedLedger(client, "chunks-test")
    writer = SharedLexicalIndex(tmp_path / "w.sqlite", store, ledger, interval=0)
    reader = SharedLexicalIndex(tmp_path / "r.sqlite", store, ledger, interval=0)
    (tmp_path / "besuch.md").write_text(VISIT + "\n## Mehr\n\nDie Terminvergabe läuft seit 2018.\n",
                                        encoding="utf-8")
    chunks = chunk(load_document(tmp_path / "besuch.md", None).doc, 200)  # two sections, two chunks
    assert len(chunks) == 2
    ids = sorted(c.id for c in chunks)

    # the ledger names both chunks, but only one is stored yet: the reader waits
    ledger.put("besuch.md", LedgerEntry("h1", "besuch.md", "Ortsbesuch", 2), ids)
    store.add(chunks[:1], FakeEmbedder().embed_passages([chunks[0].text]))
    assert reader.search("Wolfenbüttel Quedlinburg", 5) == []
    assert "besuch.md" not in reader.docs()
    store.add(chunks[1:], FakeEmbedder().embed_passages([chunks[1].text]))
    assert reader.search("Wolfenbüttel Quedlinburg", 5)[0][0] == chunks[0].id
    assert reader.ids_of("besuch.md") == set(ids) and reader.doc_hash("besuch.md") == "h1"

    # a removal through one cache reaches the other
    writer.refresh(force=True)
    writer.remove_doc("besuch.md")
    assert reader.search("Wolfenbüttel Quedlinburg", 5) == []
    assert reader.docs() == {} and reader.count() == 0
