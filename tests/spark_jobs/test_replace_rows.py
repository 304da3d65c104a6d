"""How an incremental identity run replaces its scope's rows of a table (spark_jobs/jobs/resolve.py, _replace_rows), on
Sail and Delta: rows with a column the table lacks (a changed schema) take the overwrite path instead of the MERGE, and
must still keep every row outside the scope, replace the scope's rows, add the column (null for the rows kept) and
commit once, so that readers see the table before or after, never half-way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from cdp.maintenance import read_arrow
from spark_jobs.jobs.resolve import ResolveReport, _replace_rows, _Run, _TableIO


def _run(spark, lake: Lake) -> _Run:
    """A run's context with only what _replace_rows reads: Spark, the lake, its table I/O and a run id."""
    report = ResolveReport(run_id="run-2", rules_tag="test", started_at=datetime(2025, 7, 1, tzinfo=UTC))
    return _Run(
        spark=spark, lake=lake, rules=None, io=_TableIO(spark, lake, "delta"), checkpoint=lambda df, _: df,
        report=report, lap=lambda _: None, say=lambda _: None, default_region="VN", present={}, bronze={}, lock=None,
    )  # type: ignore[arg-type]  # fmt: skip


def _rows(lake: Lake, table: layout.Table) -> list[dict]:
    return sorted(read_arrow(lake.uri(table)).to_pylist(), key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def _write(spark, run: _Run, table: layout.Table, rows: list[tuple], schema: str) -> None:
    run.io.append(spark.createDataFrame(rows, schema), table)  # as a run creates it (deletion vectors on)


@pytest.fixture
def run(spark, lake: Lake) -> _Run:
    return _run(spark, lake)


def test_rows_with_a_new_column_replace_the_scope_and_keep_the_rest(spark, lake, run):
    table = layout.IDENTITY_IDENTIFIERS
    _write(
        spark, run, table, [("r:1", "a"), ("r:2", "b"), ("r:3", "c"), ("r:3", "d")], "record_key string, value string"
    )
    version = DeltaTable(lake.uri(table)).version()
    scope = spark.createDataFrame([("r:2",), ("r:3",)], "record_key string")
    rows = spark.createDataFrame([("r:2", "b2", "email")], "record_key string, value string, id_type string")

    _replace_rows(run, table, rows, scope)

    assert _rows(lake, table) == [
        {"record_key": "r:1", "value": "a", "id_type": None},  # outside the scope: kept, the new column null
        {"record_key": "r:2", "value": "b2", "id_type": "email"},  # the scope's: replaced; r:3 had no new row
    ]
    after = DeltaTable(lake.uri(table))
    assert after.version() == version + 1  # one commit: readers never see the scope's rows gone and not yet back
    assert [f.name for f in after.schema().fields] == ["record_key", "value", "id_type"]


def test_a_pair_is_the_scopes_when_either_side_is(spark, lake, run):
    table = layout.IDENTITY_MATCH_PAIRS
    old = [("r:1", "r:2", 0.9), ("r:3", "r:1", 0.8), ("r:4", "r:5", 0.7)]
    _write(spark, run, table, old, "left_key string, right_key string, match_probability double")
    scope = spark.createDataFrame([("r:1",)], "record_key string")
    rows = spark.createDataFrame(
        [("r:1", "r:5", 0.95, "run-2")], "left_key string, right_key string, match_probability double, run_id string"
    )

    _replace_rows(run, table, rows, scope)

    assert _rows(lake, table) == [
        {"left_key": "r:1", "right_key": "r:5", "match_probability": 0.95, "run_id": "run-2"},
        {"left_key": "r:4", "right_key": "r:5", "match_probability": 0.7, "run_id": None},
    ]
