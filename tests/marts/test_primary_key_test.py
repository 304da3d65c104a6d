"""The project's `primary_key` data test (dbt_project/tests/generic/primary_key.sql), run by dbt on DuckDB: one node
per key that fails on a duplicate key and on a null in any key column, as dbt's `unique` + `not_null` pair did."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from marts.audiences import DBT_PROJECT

# Each model: its rows and whether its primary key holds.
MODELS = {
    "clean": ("select 1 as id union all select 2", True),
    "duplicated": ("select 1 as id union all select 1", False),
    "missing": ("select 1 as id union all select null", False),
    "pair_clean": ("select 1 as a, 'x' as b union all select 1, 'y' union all select 2, 'x'", True),
    "pair_duplicated": ("select 1 as a, 'x' as b union all select 1, 'x'", False),
    "pair_missing": ("select 1 as a, 'x' as b union all select 1, null", False),
}


def _project(root: Path) -> None:
    """A small dbt project whose generic tests are the marts project's own."""
    (root / "models").mkdir(parents=True)
    (root / "tests").symlink_to(DBT_PROJECT / "tests", target_is_directory=True)
    for name, (sql, _) in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    models = []
    for name in MODELS:
        if name.startswith("pair_"):
            models.append({"name": name, "data_tests": [{"primary_key": {"arguments": {"columns": ["a", "b"]}}}]})
        else:
            models.append({"name": name, "columns": [{"name": "id", "data_tests": ["primary_key"]}]})
    (root / "models" / "models.yml").write_text(yaml.safe_dump({"version": 2, "models": models}))
    project = {"name": "keys", "version": "1.0.0", "profile": "keys", "config-version": 2,
               "models": {"keys": {"+materialized": "table"}}}  # fmt: skip
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    profile = {"keys": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(root / "keys.duckdb")}}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profile))


@pytest.fixture(scope="module")
def test_results(tmp_path_factory) -> dict[str, tuple[str, int]]:
    from dbt.cli.main import dbtRunner

    root = tmp_path_factory.mktemp("keys")
    _project(root)
    args = ["--project-dir", str(root), "--profiles-dir", str(root), "--target-path", str(root / "target")]
    result = dbtRunner().invoke(["build", *args, "--log-path", str(root / "logs"), "--quiet"])
    assert result.result is not None, result.exception
    return {
        r.node.attached_node.split(".")[-1]: (str(r.status), int(r.failures or 0))
        for r in result.result.results
        if r.node.resource_type == "test"
    }


def test_one_node_per_key(test_results):
    assert sorted(test_results) == sorted(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_a_duplicate_or_null_key_fails_and_a_clean_key_passes(test_results, model):
    status, failures = test_results[model]
    holds = MODELS[model][1]
    assert (status, failures) == (("pass", 0) if holds else ("fail", 1))
