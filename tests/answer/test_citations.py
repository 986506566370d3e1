"""Citations, a pure stage: markers renumbered, bad numbers dropped, verbatim quotes, pages."""

from assistant.answer.citations import best_sentence, cite
from assistant.types import Chunk, Hit

TEXT_A = ("Das Gespräch auf Führungsebene fand am 13. Juni 2016 in Berlin statt. Aus dem Rheinland "
          "nahm Herr Kahlen teil, gemeinsam mit Frau Dr. Brockmann.")
TEXT_B = "Am 22. September 2016 lud das BMI zur Abschlussveranstaltung ein."


def _hit(cid: str, text: str, page=None, page_starts=()) -> Hit:
    c = Chunk(id=cid, doc_id="d", title="Bericht", source="bericht.pdf", text=text, start=0,
              end=len(text), page=page, page_end=page, page_starts=page_starts)
    return Hit(c, 1.0)


def test_markers_are_renumbered_in_order_of_appearance_and_invalid_ones_dropped():
    hits = [_hit("a", TEXT_A), _hit("b", TEXT_B)]
    text, cites = cite("Das BMI lud ein [2]. Herr Kahlen nahm teil [1][7].", hits)
    assert text == "Das BMI lud ein [1]. Herr Kahlen nahm teil [2]."
    assert [(c.n, c.chunk_id) for c in cites] == [(1, "b"), (2, "a")]


def test_quote_is_the_verbatim_sentence_that_supports_the_claim():
    hits = [_hit("a", TEXT_A)]
    _, (c,) = cite("Herr Kahlen aus dem Rheinland nahm teil [1].", hits)
    assert c.quote == "Aus dem Rheinland nahm Herr Kahlen teil, gemeinsam mit Frau Dr. Brockmann."
    assert c.quote in TEXT_A


def test_page_of_the_quote_in_a_chunk_spanning_two_pages():
    second = TEXT_A.index("Aus dem")
    hits = [_hit("a", TEXT_A, page=4, page_starts=((0, 4), (second, 5)))]
    _, (c,) = cite("Kahlen nahm teil [1].", hits)
    assert c.page == 5
    _, (c,) = cite("Das Gespräch war am 13. Juni 2016 [1].", hits)
    assert c.page == 4


def test_comma_lists_and_no_markers():
    hits = [_hit("a", TEXT_A), _hit("b", TEXT_B)]
    text, cites = cite("Beides stimmt [1, 2].", hits)
    assert text == "Beides stimmt [1][2]." and len(cites) == 2
    assert cite("Ohne Beleg.", hits) == ("Ohne Beleg.", ())


def test_best_sentence_prefers_shared_terms():
    a, b = best_sentence(TEXT_B + " Danach folgte Düren.", "Wer lud zur Abschlussveranstaltung?")
    assert (TEXT_B + " Danach folgte Düren.")[a:b] == TEXT_B


def test_best_sentence_credits_a_claim_word_that_begins_a_longer_one():
    # Seed s12 in the llm mode: "arbeiten seit 2015 zusammen" quoted the photo caption (it shares
    # "Erprobungsräume" and "2015" too) instead of the sentence that says it.
    caption = "Vertreterinnen der Erprobungsräume beim IT-Gipfel 2015 in Berlin (v.l.n.r. Tigges, Krins)."
    fact = "2015 haben sich die Erprobungsräume zusammengeschlossen."
    a, b = best_sentence(caption + " " + fact, "Die Erprobungsräume arbeiten seit 2015 zusammen.")
    assert (caption + " " + fact)[a:b] == fact
