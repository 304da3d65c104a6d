"""dbt unit tests: left out of `cdp build` (dbt's advice for production), run in full by the test suite."""

from __future__ import annotations

import json

import pytest

from cdp.lake import Lake
from marts.build import build_command, build_marts, run_unit_tests
from tests.marts.conftest import AS_OF


def test_a_build_leaves_unit_tests_out_unless_asked():
    assert build_command() == ["build", "--exclude-resource-type", "unit_test"]
    assert build_command(select="customers+", full_refresh=True, unit_tests=True) == [
        "build", "--select", "customers+", "--full-refresh"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Lake:
    """A lake with only empty source tables, built: unit tests bring their own rows but read their inputs' column
    types from the built relations."""
    lake = Lake(tmp_path_factory.mktemp("unit") / "lake")
    report = build_marts(lake, as_of=AS_OF)
    assert report.results and not [node for node, _, _ in report.results if node.startswith("unit_test.")]
    return lake


def test_every_dbt_unit_test_passes(built):
    results = run_unit_tests(built, as_of=AS_OF)  # raises BuildFailed naming any failed unit test
    manifest = json.loads((built.marts_dir() / "target" / "manifest.json").read_text())
    assert manifest["unit_tests"]  # the project has unit tests, and every one of them ran
    assert {node for node, _, _ in results} == set(manifest["unit_tests"])
    assert {status for _, status, _ in results} == {"pass"}
