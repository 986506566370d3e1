"""The PDF path on real German PDFs nobody here wrote (../shared/corpora). Skipped without them."""


import tomllib

import pytest

from assistant.evaluate.runner import gate, run_set, shipped_sets
from assistant.read.pdf import read_pdf
from tests.conftest import ROOT, SHARED, make_settings

EDU = SHARED / "corpora" / "debian-edu-bookworm-manual.pdf"
needs_edu = pytest.mark.skipif(not EDU.is_file(), reason=f"{EDU} fehlt: ../shared ist nicht da")


@pytest.fixture(scope="module")
def edu():
    return read_pdf(EDU)


@needs_edu
def test_handbook_pages_labels_and_title(edu):
    assert edu.pages == 104
    assert edu.title == "Handbuch für Debian Edu / Skolelinux 12 Bookworm"
    assert edu.labels[1] == "i" and edu.labels[7] == "1" and edu.labels[21] == "15"


@needs_edu
def test_handbook_running_footer_and_table_of_contents_are_gone(edu):
    text = "\n".join(b.text for b in edu.blocks)
    assert "Skolelinux 12 Bookworm 15 / 98" not in text
    assert not any(b.page in (2, 3, 4, 5, 6) for b in edu.blocks)  # the contents pages
    assert ". . . . ." not in text


@needs_edu
def test_handbook_hyphenation_and_compounds(edu):
    text = "\n".join(b.text for b in edu.blocks)
    assert "\ufffe" not in text
    assert "Systemstatusmessungen" in text  # "Sys-/temstatusmessungen" at a line end
    assert "MAC-Adresse" in text  # a real compound keeps its hyphen


@needs_edu
def test_handbook_sections_from_the_outline(edu):
    headings = [(b.page, b.text) for b in edu.blocks if b.is_heading]
    assert (8, "3.1 Netzwerk") in headings
    assert (73, "11.2 Verwaltung von Backups") in headings
    block = next(b for b in edu.blocks if "Das Munin Trend-Reporting-System" in b.text)
    assert block.page == 73


@needs_edu
def test_handbook_question_set_cites_the_right_page_nine_times_in_ten(tmp_path):
    # The bar, answered by the default pipeline from a fresh index of the handbook alone.
    (handbook,) = [s for s in shipped_sets() if s.name == "debian-edu"]
    floors = tomllib.loads((ROOT / "evals" / "gate.toml").read_text(encoding="utf-8"))
    found, verdicts = run_set(handbook, make_settings(tmp_path, tmp_path / "corpus"), tmp_path)
    assert len(verdicts) >= 75 and sum(v.item.refuse for v in verdicts) >= 8
    assert gate({"debian-edu": found}, floors) == []
    assert found["unsupported_facts_shown"] == 0
