"""The README stays true: its configuration and contract tables are the ones generated from the code."""

from __future__ import annotations

import re

from cdp.settings import Settings, project_root, settings_markdown
from ingest.contracts import SOURCES, markdown
from marts.audiences import traits_markdown

README = (project_root() / "README.md").read_text()


def _section(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README, re.S)
    assert match, f"README has no {name} section"
    return match.group(1)


def test_every_configuration_key_is_documented_as_generated():
    assert _section("settings") == settings_markdown()
    for key in Settings.model_fields:
        assert f"`CDP_{key.upper()}`" in README


def test_the_landing_contract_in_the_readme_is_the_one_in_code():
    assert _section("contracts") == "\n\n".join(markdown(c) for c in SOURCES.values())


def test_readme_starts_with_the_two_commands():
    assert README.index("make demo") < README.index("## How the data flows")
    assert README.index("make test") < README.index("## How the data flows")


def test_the_trait_definitions_are_the_documented_columns():
    assert _section("traits") == traits_markdown()
