"""Claim verification on German text, no model: invented names, numbers and dates are removed,
wrong [n] are corrected, supported sentences stay."""

from assistant.answer.llm_answer import CheckedSentences
from assistant.answer.streaming import SentenceSplitter
from assistant.answer.verify import Verification, facts, support_span
from assistant.types import Chunk, Hit


def verify(text: str, hits: list[Hit]) -> tuple[str, Verification]:
    """A whole answer checked as the llm mode checks the model's stream, with the shipped
    sentence splitter and checker: the supported sentences (markers corrected) and the report."""
    checked, splitter = CheckedSentences(hits), SentenceSplitter()
    for sentence in splitter.feed(text) + splitter.finish():
        checked.check(sentence)
    return " ".join(checked.kept), Verification(tuple(checked.checks))


MEETING = ("Das Gespräch auf Führungsebene auf Einladung von Herrn Staatssekretär Klaus Vitt fand am "
           "13. Juni 2016 in Berlin statt. Aus dem Rheinland nahm Herr Kahlen teil, aus der "
           "Metropolregion Rhein-Neckar der Verbandsdirektor Herr Schlusche.")
FINALE = ("Am 22. September 2016 lud das Bundesministerium des Innern gemeinsam mit der Hochschule "
          "Harz zur Abschlussveranstaltung ein.")


def _hits(*texts: str) -> list[Hit]:
    return [Hit(Chunk(f"c{i}", "d", "T", "s", t, 0, len(t)), 1.0) for i, t in enumerate(texts)]


def test_supported_sentences_stay_with_their_markers():
    text, v = verify("Das Gespräch fand am 13.06.2016 in Berlin statt [1]. "
                     "Eingeladen hatte Staatssekretär Klaus Vitt [1].", _hits(MEETING, FINALE))
    assert text == ("Das Gespräch fand am 13.06.2016 in Berlin statt. [1] "
                    "Eingeladen hatte Staatssekretär Klaus Vitt. [1]")
    assert v.removed == 0


def test_an_invented_name_number_or_date_removes_the_sentence():
    answer = ("Herr Kahlen nahm teil [1]. Auch Bürgermeisterin Schulze aus Hamburg war dabei [1]. "
              "Es kamen 45 Gäste [1]. Das Gespräch fand am 14. Juli 2017 statt [1].")
    text, v = verify(answer, _hits(MEETING))
    assert text == "Herr Kahlen nahm teil. [1]"
    assert v.removed == 3
    removed = {c.sentence: c.unsupported_facts for c in v.checks if not c.supported}
    assert "Schulze" in removed["Auch Bürgermeisterin Schulze aus Hamburg war dabei."]
    assert "45" in removed["Es kamen 45 Gäste."]
    assert v.to_json()["removed"] == 3


def test_an_invented_command_name_removes_the_sentence():
    # a lower-case command or file name is a fact as a name is: a user copies it
    resize = ("Um die Vergrößerung voller Partitionen zu vereinfachen, wird das Skript "
              "debian-edu-fsautoresize zur Verfügung gestellt. Es liest /etc/fsautoresizetab ein.")
    text, v = verify("Volle Partitionen vergrößert das Skript debian-edu-fsresize [1]. "
                     "Das Skript debian-edu-fsautoresize vereinfacht die Vergrößerung voller "
                     "Partitionen [1].", _hits(resize))
    assert text == ("Das Skript debian-edu-fsautoresize vereinfacht die Vergrößerung voller "
                    "Partitionen. [1]")
    removed = [c for c in v.checks if not c.supported]
    assert [c.unsupported_facts for c in removed] == [("debian-edu-fsresize",)]


def test_a_wrong_or_missing_marker_is_corrected_to_the_supporting_passage():
    text, v = verify("Die Abschlussveranstaltung war am 22. September 2016 [1]. "
                     "Herr Schlusche war Verbandsdirektor.", _hits(MEETING, FINALE))
    assert text == ("Die Abschlussveranstaltung war am 22. September 2016. [2] "
                    "Herr Schlusche war Verbandsdirektor. [1]")
    assert [c.corrected for c in v.checks] == [True, True]
    assert v.to_json()["markers_corrected"] == 2


def test_a_marker_beyond_the_passages_is_dropped_and_the_claim_checked():
    text, v = verify("Die Hochschule Harz lud zur Abschlussveranstaltung ein [7].", _hits(MEETING, FINALE))
    assert text == "Die Hochschule Harz lud zur Abschlussveranstaltung ein. [2]"
    assert v.checks[0].corrected


def test_facts_are_dates_numbers_and_capitalized_words_after_the_first():
    found = [f for f, _ in facts("Am 13. Juni 2016 kamen 4 Gäste nach Berlin, darunter Herr Lühr.")]
    assert found == ["13. Juni 2016", "4", "Gäste", "Berlin", "Herr", "Lühr"]


def test_a_paragraph_reference_is_one_fact_read_as_the_passage_reads_it():
    law = "Nach § 12a EGovG muss die Bundesregierung alle zwei Jahre berichten."
    assert [f for f, _ in facts(law)][:2] == ["§ 12a", "EGovG"]
    text, v = verify("Nach § 12a EGovG muss die Bundesregierung berichten [1].", _hits(law))
    assert v.removed == 0 and "§ 12a" in text
    _, v = verify("Nach § 13 EGovG muss die Bundesregierung berichten [1].", _hits(law))
    assert v.removed == 1  # another paragraph is not supported by § 12a


def test_a_fact_is_read_as_its_sentence_reads_it():
    # a path cut by a bad reading: in context the identifier is "amd64", alone "edu-amd64"
    command = "Dazu dient der Befehl: sudo dd if=debian -edu-amd64 -XXX.iso of=/dev/sdX bs=1M"
    text, v = verify(f"{command} [1]", _hits(command))
    assert v.removed == 0 and "edu-amd64" in text
    rule = "Die Prüfliste steht in der Dienstanweisung BAU-DA-2/2024."
    assert ("BAU-DA-2/2024", {"idbauda2x2024", "bau", "2", "2024"}) in facts(rule)
    _, v = verify("Die Prüfliste steht in der Dienstanweisung BAU-DA-3/2024 [1].", _hits(rule))
    assert v.removed == 1  # a neighbouring file number is no support


def test_a_claim_joining_two_passages_cites_both():
    heading = "Abschlussveranstaltung des BMI-Projektes Modellkommunen"
    text, v = verify("Die Abschlussveranstaltung des BMI-Projektes fand am 22. September 2016 statt [1].",
                     _hits(MEETING, heading, FINALE))
    assert text == "Die Abschlussveranstaltung des BMI-Projektes fand am 22. September 2016 statt. [2][3]"
    assert v.removed == 0


def test_a_true_date_attached_to_the_wrong_event_is_removed():
    passage = ("Das erste Gespräch auf Arbeitsebene fand am 2. Mai 2016 in Berlin statt. "
               "Das Gespräch auf Führungsebene fand am 13. Juni 2016 statt. Im Februar 2016 ging "
               "ein Brief an Herrn Vitt. Die Modellkommunen trafen sich mehrmals. Am 22. September "
               "2016 lud das Bundesministerium des Innern zur Abschlussveranstaltung ein.")
    text, v = verify("Am 2.5.2016 lud das Bundesministerium des Innern zur Abschlussveranstaltung "
                     "ein [1].", _hits(passage))
    assert text == "" and v.removed == 1
    assert "2.5.2016" in v.checks[0].unsupported_facts


def test_facts_of_two_separate_paragraphs_are_not_joined_into_one_claim():
    # Seed question s07 ("Was geschah am 2.5.2016?"): the model wrote the 2 May date into the
    # sentence about the 22 September event and cited both passages. Both stand in the same
    # document, a paragraph apart: each fact is true, the claim is not.
    may = "Das erste Gespräch auf Arbeitsebene fand am 2. Mai 2016 im Bundesinnenministerium statt."
    gap = "Im Februar 2016 ging ein Brief an Herrn Vitt. Die Modellkommunen trafen sich mehrmals. "
    doc = FINALE + " " + gap + may
    at = [0, doc.index(may)]
    hits = [Hit(Chunk(f"c{i}", "d", "T", "s", t, a, a + len(t)), 1.0) for i, (t, a) in enumerate(
        [(FINALE, at[0]), (may, at[1])])]
    text, v = verify("Am 2.5.2016 lud das Bundesministerium des Innern gemeinsam mit der Hochschule "
                     "Harz zur Abschlussveranstaltung ein [1][2].", hits)
    assert text == "" and v.removed == 1
    # the same two pieces as consecutive chunks of one paragraph may carry one claim together
    joined = [Hit(Chunk("c0", "d", "T", "s", FINALE, 0, len(FINALE)), 1.0),
              Hit(Chunk("c1", "d", "T", "s", may, len(FINALE) + 1, len(FINALE) + 1 + len(may)), 1.0)]
    text, _ = verify("Am 2. Mai 2016 lud das Bundesministerium des Innern zur Abschlussveranstaltung "
                     "ein [1][2].", joined)
    assert text.endswith("[1][2]")


def test_the_number_of_a_list_item_is_no_claim():
    text, v = verify("Eingeladen hatte:\n1. Staatssekretär Klaus Vitt [1].\n2. Ministerin Petra Sommer [1].",
                     _hits(MEETING))
    assert "1. Staatssekretär Klaus Vitt. [1]" in text and "Sommer" not in text
    assert [c.supported for c in v.checks][1:] == [True, False]


def test_the_quote_span_holds_every_sentence_a_claim_rests_on():
    text = ("Die Einrichtung erfolgt automatisch mittels DHCP. Alle Clients bekommen Adressen aus "
            "10.0.0.0/8; LTSP-Clients hängen am LTSP-Server im Subnetz 192.168.0.0/24. "
            "Der Drucker steht im Flur.")
    a, b = support_span(["Der DHCP-Server vergibt Adressen aus dem Subnetz 192.168.0.0/24. [1]"], text)
    assert text[a:b].startswith("Die Einrichtung") and text[a:b].endswith("192.168.0.0/24.")
    a, b = support_span(["Adressen kommen aus dem Subnetz 192.168.0.0/24. [1]"], text)
    assert text[a:b].startswith("Alle Clients") and "Drucker" not in text[a:b]
    assert support_span(["Völlig anderes Thema."], text) is None
