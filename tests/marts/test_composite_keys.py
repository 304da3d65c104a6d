"""Every primary key of the dbt project is unique and not null (issue 5), composite keys included.

A consent event without a purpose never reaches bronze through ingest (the landing contract requires one: the row is
quarantined with "purpose: missing required field"); a bronze table written around ingest can still hold one, and
the build must then fail on customer_consents' key instead of publishing a consent for no purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp.lake import Lake
from marts.audiences import DBT_PROJECT
from marts.build import BuildFailed, build_marts
from tests.marts.conftest import AS_OF, LakeWriter, ts

# Tests that check uniqueness but let a null key through.
UNIQUE_ONLY = {"unique", "unique_combination"}


def _test_names(tests: list[Any] | None) -> list[str]:
    return [t if isinstance(t, str) else next(iter(t)) for t in tests or []]


def _model_tests() -> dict[str, list[str]]:
    """Per model, the names of its data tests and of its columns' data tests, from the project's YAML."""
    found: dict[str, list[str]] = {}
    for path in sorted(Path(DBT_PROJECT / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            names = _test_names(model.get("data_tests"))
            for column in model.get("columns", []):
                names += _test_names(column.get("data_tests"))
            found[model["name"]] = names
    return found


def test_no_key_is_tested_for_uniqueness_alone():
    unique_only = {name: sorted(set(tests) & UNIQUE_ONLY) for name, tests in _model_tests().items()}
    assert {name: tests for name, tests in unique_only.items() if tests} == {}


@pytest.mark.parametrize("model", ["customer_consents", "customer_trait_history", "int_journeys__funnel_counts"])
def test_the_composite_keys_are_primary_keys(model):
    assert "primary_key" in _model_tests()[model]


def test_a_consent_without_a_purpose_fails_the_build_on_the_key(tmp_path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    at = ts("2025-03-01T10:00:00")
    writer.bronze(
        "consent_events",
        [{"consent_id": "c-1", "customer_ref": "x", "purpose": None, "channel": "email", "status": "granted",
          "occurred_at": at}],
    )  # fmt: skip
    writer.link("cus_x", "consent_events", "c-1", at)
    writer.write_identity()

    with pytest.raises(BuildFailed, match=r"primary_key_customer_consents_customer_id__purpose__channel"):
        build_marts(lake, as_of=AS_OF)
