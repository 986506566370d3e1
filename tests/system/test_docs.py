"""The front door and the docs stay true to the code: every setting is documented, every link
in README.md and docs/ points at a file that exists, and the README stays a front door."""

import re
from pathlib import Path

import pytest

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_setting_is_in_the_configuration_table():
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`{name}`" not in table]
    assert missing == [], f"in docs/configuration.md nicht beschrieben: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_points_at_a_file_that_exists(page):
    text = re.sub(r"```.*?```|`[^`]*`", "", page.read_text(encoding="utf-8"), flags=re.S)
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    broken = [ln for ln in links if not ln.startswith(("http://", "https://", "mailto:"))
              and not (page.parent / ln).exists()]
    assert broken == [], f"{page.name}: Links ins Leere: {broken}"


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
