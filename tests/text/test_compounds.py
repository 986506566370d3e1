"""German compounds: split against the words the index knows, met by the question's words."""

import pytest

import assistant.indexing.lexical
from assistant.indexing.lexical import LexicalIndex
from assistant.text.compounds import split

# Municipal passages, one document each: the compounds' parts occur only in other documents
# (every part must be a word the index knows, as "Satzung" and "Gebühr" are in a town's texts).
PASSAGES = {
    "satzung": "Die Baugenehmigungsgebührensatzung der Stadt legt fest, was ein Vorhaben kostet: "
               "je angefangene 1.000 Euro Herstellungskosten 8 Euro, mindestens 50 Euro.",
    "fest": "Für ein Straßenfest brauchen Sie eine Genehmigung des Ordnungsamts. Beantragen Sie "
            "sie spätestens vier Wochen vor dem Fest.",
    "halle": "Der Bau der neuen Turnhalle an der Schulstraße beginnt im Mai. Die Halle soll "
             "zum Schuljahr 2026 fertig sein.",
    "gebuehren": "Personalausweisgebühren: Für Antragsteller ab 24 Jahren 37,00 Euro, darunter "
                 "22,80 Euro. Die Gebühr ist bei Antragstellung zu zahlen.",
    "wahl": "Bringen Sie zur Wahl Ihre Wahlbenachrichtigung und einen gültigen Ausweis mit.",
    "muell": "Die Gebühren für die Müllabfuhr steigen nach der neuen Satzung um drei Prozent.",
    "personal": "Das Personal des Bürgerbüros berät Sie montags bis freitags.",
    "bibliothek": "Die Stadtbibliothek hat dienstags bis samstags von 10 bis 18 Uhr geöffnet.",
    "spielplatz": "Der Spielplatz am Lindenweg wird im Sommer neu gestaltet.",
    "rat": "Der Stadtrat tagt öffentlich am ersten Donnerstag im Monat im Sitzungssaal.",
    "wertstoff": "Grünschnitt nimmt der Wertstoffhof an der Industriestraße kostenlos an.",
    "schule": "Die Anmeldung an den Grundschulen ist im Februar im Sekretariat möglich.",
}


def _index(order: list[str]) -> LexicalIndex:
    lex = LexicalIndex(None)
    for key in order:
        lex.replace_doc(key, key, "", key, [(key, PASSAGES[key])], [], 1)
    return lex


@pytest.fixture(params=["compounds first", "compounds last"])
def lex(request) -> LexicalIndex:
    """The same passages in either order: a compound indexed before its parts splits later."""
    order = list(PASSAGES)
    return _index(order if request.param == "compounds first" else order[::-1])


def _ranked(lex: LexicalIndex, question: str) -> list[str]:
    return [cid for cid, _ in lex.search(question, 10)]


def test_question_words_meet_the_parts_of_a_compound(lex):
    assert _ranked(lex, "Genehmigung zum Bauen")[0] == "satzung"
    assert _ranked(lex, "Was kostet die Genehmigung für einen Bau?")[0] == "satzung"


def test_a_middle_part_is_found_but_the_word_as_written_ranks_first(lex):
    ranked = _ranked(lex, "Ausweis")
    assert ranked[:2] == ["wahl", "gebuehren"]  # parts weigh PART_WEIGHT of a written word
    assert _ranked(lex, "Gebühren für den Ausweis")[0] == "gebuehren"


def test_a_compound_in_the_question_splits_as_the_index_splits_its_own(lex):
    assert lex.compounds("Was kosten personalausweisgebühren?") == {
        "personalausweisgebühren": ["personal", "ausweis", "gebuhr"]}
    assert _ranked(lex, "Wahlausweis")[0] == "wahl"


def test_without_the_parts_the_compounds_are_not_found(monkeypatch):
    """The premise of the tests above: plain BM25 does not reach these compounds."""
    monkeypatch.setattr(assistant.indexing.lexical, "words", lambda text, nouns=True: [])
    lex = _index(list(PASSAGES))
    assert "satzung" not in _ranked(lex, "Genehmigung zum Bauen")
    assert "gebuehren" not in _ranked(lex, "Ausweis")


def test_frequent_words_stay_whole_and_rare_compounds_split():
    count = {"gebuhr": 30, "geb": 2, "uhr": 40, "bau": 50, "genehm": 20, "satzung": 10,
             "personal": 5, "ausweis": 8}
    assert split("gebühr", count) == []  # "geb" + "uhr" would be a worse explanation
    assert split("baugenehmigungsgebührensatzung", count) == ["bau", "genehm", "gebuhr", "satzung"]
    assert split("personalausweisgebühren", count) == ["personal", "ausweis", "gebuhr"]
    assert split("nachgeben", {"geb": 9}) == []  # "nach" is a stopword, no part
    assert split("turnhalle", count) == []  # a part unknown to the index: no split
