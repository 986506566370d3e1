"""Identifiers (file numbers, paragraphs, codes) are matched exactly, not as their loose parts."""

import pytest

import assistant.text.analyzer
from assistant.indexing.lexical import LexicalIndex
from assistant.text.analyzer import analyze, identifier

# Look-alike passages: the wrong one of each pair holds the loose parts of the right identifier
# more often than the right one does.
PASSAGES = {
    "da1": "Bescheid BAU-DA-1/2024 zum Bauantrag vom 2. Februar 2024: Anbau, Bauzeit 2 Jahre, "
           "Baubeginn Februar 2024.",
    "da2": "Bescheid BAU-DA-2/2024 zum Bauantrag vom 14. März 2024: Carport aus Holz mit "
           "Gründach, Zufahrt über den Wirtschaftsweg, Entwässerung in die Zisterne.",
    "p13": "§ 13 Satzung: Die Gebühr wird mit der Bekanntgabe des Bescheids fällig.",
    "p3": "§ 3 Satzung: Der Antrag ist 13 Tage vorher zu stellen, in 13 Exemplaren.",
    "kae08": "Messstelle KAE-08 am Mühlbach: Nitrat 12 mg/l, gemessen vom Wasserwirtschaftsamt "
             "im Rahmen des landesweiten Grundwassermonitorings.",
    "kae09": "Messstelle KAE-09: Nitrat 8 mg/l; Nitrat 08 im Vorjahr; Probe 08.",
    "az17": "Az. 63.1-2024/017: Nutzungsänderung einer Scheune in eine Werkstatt mit Lager, "
            "die Stellungnahme der Denkmalpflege liegt vor.",
    "az71": "Az. 63.1-2024/071: Abbruch, Nachtrag 017 zu 63.1-2024.",
}


@pytest.fixture
def lex() -> LexicalIndex:
    lex = LexicalIndex(None)
    for key, text in PASSAGES.items():
        lex.replace_doc(key, key, "", key, [(key, text)], [], 1)
    return lex


CASES = [("BAU-DA-2/2024", "da2", "da1"), ("Was regelt § 13?", "p13", "p3"),
         ("Nitrat an KAE-08", "kae08", "kae09"), ("Nitrat an KAE08", "kae08", "kae09"),
         ("Stand von Az. 63.1-2024/017", "az17", "az71")]


@pytest.mark.parametrize(("question", "right", "wrong"), CASES)
def test_the_exact_identifier_ranks_above_its_look_alike(lex, question, right, wrong):
    ranked = [cid for cid, _ in lex.search(question, 10)]
    assert ranked.index(right) < ranked.index(wrong)
    assert ranked[0] == right


def test_without_the_identifier_token_the_look_alikes_win(monkeypatch):
    """The premise of the test above: their loose parts favour the wrong passage."""
    monkeypatch.setattr(assistant.text.analyzer, "identifier", lambda s: None)
    monkeypatch.setattr(assistant.text.analyzer, "_PARAGRAPH", assistant.text.analyzer.re.compile(r"(?!)(x)"))
    plain = LexicalIndex(None)
    for key, text in PASSAGES.items():
        plain.replace_doc(key, key, "", key, [(key, text)], [], 1)
    tops = [plain.search(q, 1)[0][0] for q, _, _ in CASES]
    assert tops == [wrong for _, _, wrong in CASES]


@pytest.mark.parametrize(("text", "token"), [
    ("BAU-DA-2/2024", "idbauda2x2024"), ("bau-da-2/2024", "idbauda2x2024"),
    ("KAE-08", "idkae08"), ("KAE08", "idkae08"), ("63.1-2024/017", "id63x1x2024x017"),
    ("Größe-3", "idgrosse3"), ("1.000", None), ("3.5", None), ("E-Mail", None), ("2024", None),
])
def test_identifier_tokens(text, token):
    assert identifier(text) == token


def test_paragraphs_dates_and_numbers():
    assert "par13" in analyze("nach § 13 Abs. 2") and "par13" in analyze("Paragraph 13")
    assert "par13a" in analyze("§13a BauGB")
    tokens = analyze("BAU-DA-2/2024")
    assert "idbauda2x2024" in tokens and "2024" in tokens and "bau" in tokens
    assert "m202402" not in tokens  # "2/2024" inside a file number is no date
    assert analyze("am 13.6.2016") == analyze("am 13. Juni 2016")  # a date stays a date
    assert analyze("1.000 Euro") == ["1", "000", "1000", "euro"]  # no identifier, no date


def test_a_number_in_thousands_groups_is_one_token_beside_its_groups():
    assert "200000" in analyze("bei 200.000 Euro") and "200000" in analyze("200000 Euro")
    assert "1380" in analyze("Gebühr: 1.380,00 Euro")
    row = analyze("mehr als 1.000.000 Euro: 5.200,00 zuzüglich 4,5 vom Tausend")
    assert "200000" not in row  # "5.200" and "000" no longer meet "200.000"
    assert "d20160613" in analyze("13.06.2016") and "1306" not in analyze("13.06.2016")
