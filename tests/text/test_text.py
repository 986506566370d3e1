"""German text rules: normalization, sentence boundaries, date notations, the analyzer."""

import pytest

from assistant.text.analyzer import analyze
from assistant.text.dates import spell_out_dates
from assistant.text.normalize import normalize
from assistant.text.sentences import split_sentences


def test_normalize_folds_ligatures_and_soft_hyphens_but_keeps_umlauts():
    raw = "Verwal\u00adtung  der Stra\u00dfe\u00a0in Gro\u00dfgmain: ﬀ ﬁ ﬂ Äpfel Öl Übung\r\n\n\n\nEnde"
    assert normalize(raw) == "Verwaltung der Straße in Großgmain: ff fi fl Äpfel Öl Übung\n\nEnde"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Es gibt z. B. Halle. Danach kam Gütersloh.",
         ["Es gibt z. B. Halle.", "Danach kam Gütersloh."]),
        ("Frau Dr. Brockmann war dabei. Herr Lühr auch.",
         ["Frau Dr. Brockmann war dabei.", "Herr Lühr auch."]),
        ("Im Bild (v.l.n.r. Tigges, Krins, Brockmann) sieht man sie. Dann folgt mehr.",
         ["Im Bild (v.l.n.r. Tigges, Krins, Brockmann) sieht man sie.", "Dann folgt mehr."]),
        ("Das Gespräch fand am 13. Juni 2016 in Berlin statt. Aus dem Rheinland kam Herr Kahlen.",
         ["Das Gespräch fand am 13. Juni 2016 in Berlin statt.", "Aus dem Rheinland kam Herr Kahlen."]),
        ("Das war 2016. Danach kam die 2. Staffel. Sie begann u.a. in Düren!",
         ["Das war 2016.", "Danach kam die 2. Staffel.", "Sie begann u.a. in Düren!"]),
        ("Siehe S. 12 und Nr. 4 bzw. Abs. 2. Fertig?", ["Siehe S. 12 und Nr. 4 bzw. Abs. 2.", "Fertig?"]),
        ("Erste Zeile ohne Punkt\nZweite Zeile.", ["Erste Zeile ohne Punkt", "Zweite Zeile."]),
    ],
)
def test_german_sentence_boundaries(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("variant", ["13.6.2016", "13.06.2016", "13. Juni 2016", "13 June 2016",
                                     "2016-06-13", "13. Jun. 2016", "13.6.16"])
def test_date_notations_share_the_canonical_token(variant):
    assert "d20160613" in analyze(f"Treffen am {variant} in Berlin")


@pytest.mark.parametrize("text", ["Laden Sie pGina 3.9.9.12 herunter", "die Adressen 10.0.16.20 bis "
                                  "10.0.31.254", "Version 1.2.3.16 ist aktuell"])
def test_a_version_or_address_is_no_date(text):
    assert not [t for t in analyze(text) if t.startswith(("d", "m")) and t[1:].isdigit()]


def test_month_and_year_meet_full_dates():
    full = set(analyze("am 13. Juni 2016"))
    assert "m201606" in full
    assert "m201606" in analyze("im Juni 2016")


def test_analyzer_stems_folds_umlauts_and_drops_stopwords():
    assert analyze("Wer nahm an den Gesprächen über Lösungen teil?") == ["nahm", "gesprach", "losung", "teil"]
    assert analyze("die acht Modellkommunen") == ["8", "modellkommun"]


def test_spell_out_dates_writes_german_prose_dates():
    assert spell_out_dates("wer war am 13.6.2016 dabei") == "wer war am 13. Juni 2016 dabei"
    assert spell_out_dates("Stand 22.09.2016") == "Stand 22. September 2016"
