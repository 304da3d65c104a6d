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
# Incremental models whose test checks only the keys written now (`keys_written`: the rows with `written`), against
# every row, and every null key: each model, its rows and whether that check passes.
WRITTEN_MODELS = {
    "written_clean": ("select 1 as id, true as written union all select 2, false", True),
    "written_duplicated": ("select 1 as id, true as written union all select 1, false", False),
    # a duplicate among rows not written now was there before this build (its own check failed then)
    "unwritten_duplicated": (
        "select 1 as id, false as written union all select 1, false union all select 2, true",
        True,
    ),
    "unwritten_missing": ("select 1 as id, true as written union all select null, false", False),
    "pair_written_duplicated": ("select 1 as a, 'x' as b, false as written union all select 1, 'x', true", False),
    "pair_unwritten_duplicated": ("select 1 as a, 'x' as b, false as written union all select 1, 'x', false", True),
}


def _project(root: Path) -> None:
    """A small dbt project whose generic tests are the marts project's own."""
    (root / "models").mkdir(parents=True)
    (root / "tests").symlink_to(DBT_PROJECT / "tests", target_is_directory=True)
    for name, (sql, _) in {**MODELS, **WRITTEN_MODELS}.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    models = []
    for name in [*MODELS, *WRITTEN_MODELS]:
        keys = ["a", "b"] if name.startswith("pair_") else ["id"]
        arguments = {"columns": keys}
        if name in WRITTEN_MODELS:
            arguments["keys_written"] = f"select {', '.join(keys)} from {{{{ ref('{name}') }}}} where written"
        models.append({"name": name, "data_tests": [{"primary_key": {"arguments": arguments}}]})
    (root / "models" / "models.yml").write_text(yaml.safe_dump({"version": 2, "models": models}))
    project = {"name": "keys", "version": "1.0.0", "profile": "keys", "config-version": 2,
               "models": {"keys": {"+materialized": "table"}}}  # fmt: skip
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    profile = {"keys": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(root / "keys.duckdb")}}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profile))


def _dbt(root: Path, *command: str) -> dict[str, tuple[str, int]]:
    """Each test node's model: the test's status and failing rows."""
    from dbt.cli.main import dbtRunner

    args = ["--project-dir", str(root), "--profiles-dir", str(root), "--target-path", str(root / "target")]
    result = dbtRunner().invoke([*command, *args, "--log-path", str(root / "logs"), "--quiet"])
    assert result.result is not None, result.exception
    return {
        r.node.attached_node.split(".")[-1]: (str(r.status), int(r.failures or 0))
        for r in result.result.results
        if r.node.resource_type == "test"
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("keys")
    _project(root)
    return root


@pytest.fixture(scope="module")
def test_results(project) -> dict[str, tuple[str, int]]:
    return _dbt(project, "build")


def test_one_node_per_key(test_results):
    assert sorted(test_results) == sorted([*MODELS, *WRITTEN_MODELS])


@pytest.mark.parametrize("model", MODELS)
def test_a_duplicate_or_null_key_fails_and_a_clean_key_passes(test_results, model):
    status, failures = test_results[model]
    holds = MODELS[model][1]
    assert (status, failures) == (("pass", 0) if holds else ("fail", 1))


@pytest.mark.parametrize("model", WRITTEN_MODELS)
def test_keys_written_now_are_checked_against_every_row(test_results, model):
    status, failures = test_results[model]
    holds = WRITTEN_MODELS[model][1]
    assert (status, failures) == (("pass", 0) if holds else ("fail", 1))


def test_check_every_key_checks_the_rows_written_before(test_results, project):
    """A `dbt test` on its own writes nothing: with the var check_every_key it checks every key."""
    results = _dbt(project, "test", "--select", "unwritten_duplicated pair_unwritten_duplicated written_clean",
                   "--vars", "{check_every_key: true}")  # fmt: skip
    assert results == {"unwritten_duplicated": ("fail", 1), "pair_unwritten_duplicated": ("fail", 1),
                       "written_clean": ("pass", 0)}  # fmt: skip
