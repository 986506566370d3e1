"""Loading documents: the seed page, Markdown, HTML, the manifest, and files that cannot be read."""

from pathlib import Path

import pytest

from assistant.read.corpus import (
    DocumentError,
    load_corpus,
    load_document,
    read_manifest,
)
from assistant.read.markup import text_blocks
from tests.conftest import CORPUS

SEED = CORPUS / "kooperation-der-erprobungsraeume.txt"


def test_seed_page_gets_manifest_metadata():
    manifest = read_manifest(CORPUS / "manifest.toml")
    doc = load_document(SEED, manifest[SEED.name]).doc
    assert doc.title == "Kooperation der Erprobungsräume"
    assert doc.source.startswith("https://www.vir-nordwest.de/projekte/erprobungsraum/")
    assert doc.meta["publisher"] == "ViR Nordwest"
    assert "Staatsrat Lühr" in doc.text  # umlauts survive
    assert "Sie sind hier:" not in doc.text  # breadcrumb dropped


def test_text_blocks_join_wrapped_lines_drop_doubled_captions_and_find_headings():
    blocks = text_blocks(SEED.read_text(encoding="utf-8"))
    texts = [b.text for b in blocks]
    joined = ("Die Städte Halle (Saale), Gütersloh, Düren, Norderstedt, die Bewerbergemeinschaft "
              "Ibbenbüren sowie die Landkreise Cochem-Zell, Ortenaukreis und Heidekreis.")
    assert any(t.startswith(joined) for t in texts)
    assert sum(t.startswith("Vertreterinnen der Erprobungsräume") for t in texts) == 1
    headings = [b.text for b in blocks if b.is_heading]
    assert "Kooperation der Erprobungsräume" in headings
    assert "Abschlussveranstaltung des BMI-Projektes Modellkommunen" in headings
    assert not any(h.startswith("Logo des") for h in headings)  # a doubled caption, no heading
    assert not any(t.startswith("•") for t in texts)


def test_sections_follow_headings():
    doc = load_document(SEED).doc
    block = next(b for b in doc.blocks if "Herr Kahlen" in b.text)
    assert block.section == "Zusammenarbeit der Erprobungsräume Rhein-Neckar, Rheinland und Nordwest"
    assert doc.text[block.start:block.start + len(block.text)] == block.text


def test_markdown_and_html(tmp_path: Path):
    md = tmp_path / "notiz.md"
    md.write_text("# Leitfaden\n\nErster Absatz,\nder umbricht. Es gibt:\n\n- Punkt eins\n"
                  "- Punkt zwei\n\n## Zweiter Teil\n\nMit [Link](http://x) und **fett**.\n\n"
                  "| Leistung | Gebühr |\n|---|---|\n| Meldebescheinigung | 10,00 € |\n",
                  encoding="utf-8")
    doc = load_document(md).doc
    assert doc.title == "Leitfaden"
    assert [b.text for b in doc.blocks] == [
        "Leitfaden", "Erster Absatz, der umbricht. Es gibt:\n• Punkt eins\n• Punkt zwei",
        "Zweiter Teil", "Mit Link und fett.",
        "Leistung | Gebühr\nMeldebescheinigung – Gebühr: 10,00 €."]
    assert [b.role for b in doc.blocks] == ["heading", "list", "heading", "paragraph", "table"]
    assert doc.blocks[-1].section == "Leitfaden › Zweiter Teil"  # the heading path

    page = tmp_path / "seite.html"
    page.write_text("<html><head><title>Amt &amp; Bürger</title><script>alert('x')</script>"
                    "</head><body><h1>Öffnungszeiten</h1><p>Montag bis Freitag.</p>"
                    "<style>p{}</style><ul><li>Termin online</li></ul></body></html>",
                    encoding="utf-8")
    doc = load_document(page).doc
    assert doc.title == "Amt & Bürger"
    assert [b.text for b in doc.blocks] == ["Öffnungszeiten", "Montag bis Freitag.", "• Termin online"]
    assert doc.blocks[-1].role == "list"
    assert "alert" not in doc.text


def test_non_utf8_text_is_read_as_windows_1252(tmp_path: Path):
    f = tmp_path / "alt.txt"
    f.write_bytes("Gemäß Straßenverkehrsordnung gilt das.".encode("cp1252"))
    assert load_document(f).doc.text == "Gemäß Straßenverkehrsordnung gilt das."


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("leer.pdf", b"", "leere Datei"),
        ("falsch.pdf", b"<html><body>Kein PDF</body></html>", "keine PDF-Datei"),
        ("kaputt.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "beschädigt"),
        ("nur-leerzeichen.txt", b"   \n\n  ", "kein Text"),
    ],
)
def test_bad_files_give_a_german_message_naming_the_file(tmp_path: Path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DocumentError, match=message) as err:
        load_document(f)
    assert name in str(err.value)


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path):
    (tmp_path / "gut.txt").write_text("Das Bürgeramt öffnet um acht Uhr.", encoding="utf-8")
    (tmp_path / "leer.pdf").write_bytes(b"")
    result = load_corpus([tmp_path], {})
    assert [d.id for d in result.docs] == ["gut.txt"]
    assert len(result.errors) == 1 and "leer.pdf" in result.errors[0]
