"""Chunking: verbatim spans, whole sentences, sections, stable ids, pages from a real PDF."""

from pathlib import Path

from assistant.indexing.chunking import chunk
from assistant.read.corpus import load_document
from assistant.text.sentences import sentence_spans
from tests.conftest import CORPUS, make_pdf

SEED = CORPUS / "kooperation-der-erprobungsraeume.txt"


def test_chunks_are_verbatim_spans_of_whole_sentences():
    doc = load_document(SEED).doc
    chunks = chunk(doc, max_chars=200)
    assert len(chunks) > 5
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        # a chunk ends where a sentence of its paragraph ends, never inside one
        block = next(b for b in doc.blocks if b.start <= c.end - 1 < b.start + len(b.text) + 1)
        ends = {block.start + e for _, e in sentence_spans(block.text)}
        assert c.end in ends
    # "am 13. Juni 2016" never ends a chunk, and the meeting sentence stays whole
    meeting = next(c for c in chunks if "Herr Kahlen" in c.text)
    assert "Aus dem Rheinland nahm Herr Kahlen teil" in meeting.text
    assert "Staatsrat Lühr dabei." in meeting.text


def test_chunk_ids_are_stable_and_content_addressed():
    doc = load_document(SEED).doc
    a, b = chunk(doc), chunk(doc)
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)
    assert all(c.id.startswith(doc.id + ":") for c in a)


def test_list_stays_with_the_sentence_that_announces_it():
    doc = load_document(SEED).doc
    c = next(c for c in chunk(doc) if "folgenden Kommunen ausgewählt:" in c.text)
    assert "Landkreise Cochem-Zell, Ortenaukreis und Heidekreis" in c.text


def test_chunks_carry_their_section_heading():
    doc = load_document(SEED).doc
    c = next(c for c in chunk(doc) if "22. September 2016" in c.text)
    assert c.section != ""
    assert c.page is None  # a web page has no pages


def test_pdf_chunks_know_their_pages(tmp_path: Path):
    f = make_pdf(tmp_path / "bericht.pdf", [
        "Einleitung. Die Kommune Düren testete die E-Akte.",
        "Auf Seite zwei steht: Gütersloh führte das Bürgerkonto ein.",
        "Seite drei beschreibt Norderstedt und den Portalverbund.",
    ])
    doc = load_document(f).doc
    chunks = chunk(doc, max_chars=80)
    by_word = {w: next(c for c in chunks if w in c.text) for w in ("Düren", "Gütersloh", "Norderstedt")}
    assert by_word["Düren"].page == 1
    assert by_word["Gütersloh"].page == 2
    assert by_word["Norderstedt"].page == 3
    assert all(c.page is not None for c in chunks)


def test_a_chunk_across_a_page_break_records_both_pages(tmp_path: Path):
    f = make_pdf(tmp_path / "kurz.pdf", ["Erster Satz auf Seite eins.", "Zweiter Satz auf Seite zwei."])
    (c,) = chunk(load_document(f).doc, max_chars=600)
    assert (c.page, c.page_end) == (1, 2)
    assert c.page_at(c.text.index("Zweiter")) == 2
    assert c.page_at(0) == 1


def test_a_short_list_that_does_not_fit_starts_a_chunk_whole(tmp_path: Path):
    # 450 characters of prose, then a lead-in with three commands: the list goes to the next
    # chunk whole instead of losing its last item to it
    prose = " ".join(["Logical Volume Management erlaubt es, Partitionen im laufenden Betrieb "
                      "zu vergrößern, während sie eingehängt sind."] * 4)
    md = tmp_path / "lvm.md"
    md.write_text("# Partitionen vergrößern\n\n" + prose + "\n\n"
                  "Um die Partition home0 auf 30 GiB zu vergrößern, verwenden Sie:\n\n"
                  "- lvextend -L30G /dev/vg_system/skole+tjener+home0\n"
                  "- resize2fs /dev/vg_system/skole+tjener+home0\n"
                  "- Um home0 um 30 GiB zu vergrößern, fügen Sie ein + hinzu (-L+30G).\n",
                  encoding="utf-8")
    chunks = chunk(load_document(md).doc, max_chars=600)
    holding = [c for c in chunks if "lvextend" in c.text or "(-L+30G)" in c.text]
    assert len(holding) == 1
    assert "verwenden Sie:" in holding[0].text and "resize2fs" in holding[0].text
    assert "(-L+30G)" in holding[0].text


def test_a_bibliography_is_kept_out_of_answers_but_remarks_are_not(tmp_path: Path):
    remark = ("Mit dpkg -L Paketname listen Sie alle Dateien eines installierten Pakets auf. "
              "Die Ausgabe enthält auch die Verzeichnisse, die das Paket anlegt. ") * 2
    sources = "Hofmann, F.; Beckert, A.: Debian-Paketmanagement. Selbstverlag, 2024.\n\n" * 4
    md = tmp_path / "handbuch.md"
    intro = "Jedes Werkzeug zeigt die Dateien eines Pakets auf seine eigene Weise an. " * 4
    md.write_text(f"# B.8 Alle Dateien eines Pakets anzeigen\n\n{intro}\n\n## Anmerkungen\n\n"
                  f"{remark}\n\n"
                  f"# Literaturverzeichnis\n\n{sources}", encoding="utf-8")
    chunks = chunk(load_document(md).doc)
    (notes,) = [c for c in chunks if "dpkg -L" in c.text]
    assert notes.section.endswith("Anmerkungen") and notes.role != "reference"
    books = [c for c in chunks if "Selbstverlag" in c.text]
    assert books and all(c.role == "reference" and "dpkg" not in c.text for c in books)


def test_an_index_s_letter_groups_are_references_but_a_document_below_contents_is_not(
        tmp_path: Path):
    # The Debian Paketmanagement book's index has a heading per letter ("Index › L"); its page
    # lists ("/var/cache/apt/archives/, 119, 120, 122") were quoted as an answer. The Open Data
    # Ranking's outline, in turn, puts every chapter below "Inhalt".
    body = "Der Paketcache unter /var/cache/apt/archives/ hält heruntergeladene Pakete vor. " * 3
    book = tmp_path / "buch.md"
    letters = "".join(f"## {x}\n\n" + "\n\n".join(f"{x.lower()}paket{i}, {i}, {i + 100}"
                                                  for i in range(40)) + "\n\n" for x in "LR")
    book.write_text(f"# 7 Paketcache\n\n{body}\n\n# Index\n\n{letters}"
                    "/var/cache/apt/archives/, 119, 120, 122, 213\n\nremove, 135, 140\n",
                    encoding="utf-8")
    chunks = chunk(load_document(book).doc)
    (text,) = [c for c in chunks if "hält heruntergeladene" in c.text]
    assert text.role != "reference"
    listed = [c for c in chunks if "paket" in c.text and "Paketcache" not in c.text]
    assert any(c.section.endswith("Index › R") for c in listed)
    assert "119, 120" in listed[-1].text and all(c.role == "reference" for c in listed)
    ranking = tmp_path / "ranking.md"
    ranking.write_text("# Open Data Ranking\n\n## Inhalt\n\nBund 5\n\nBundesländer 7\n\n"
                       "### Bund\n\n" + "Der Bund erhält 16 von 30 Punkten für den Rechtsrahmen. "
                       * 12 + "\n", encoding="utf-8")
    bund = [c for c in chunk(load_document(ranking).doc) if "Rechtsrahmen" in c.text]
    assert bund and all(c.section.endswith("Inhalt › Bund") and c.role != "reference"
                        for c in bund)
