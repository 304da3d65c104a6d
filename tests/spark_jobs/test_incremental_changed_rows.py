"""An incremental identity run writes only the rows that change (spark_jobs/jobs/resolve.py, _replace_rows), on Sail
and Delta: a scope row equal to the one the table holds (run_id aside) stays as it is, with the run_id of the run
that wrote it; when no earlier row changes or goes, the new rows are appended (no MERGE); and the tables hold the
same rows, run ids aside, as when every scope row is replaced."""

from __future__ import annotations

from deltalake import DeltaTable
from pyspark.sql import functions as F

from cdp import lake as layout
from spark_jobs.jobs import resolve as resolve_job
from spark_jobs.jobs.resolve import _replace_rows
from tests.spark_jobs.test_deletion_vectors import add_after, masked_files
from tests.spark_jobs.test_incremental_resolve import customers_of, lakes, read, resolve
from tests.spark_jobs.test_replace_rows import _rows, _write, run

__all__ = ["lakes", "run"]  # fixtures
TABLE = layout.IDENTITY_IDENTIFIERS  # keyed by (record_key, id_type, raw_value)
SCHEMA = "record_key string, id_type string, raw_value string, value string, run_id string"


def _earlier(spark, run) -> int:
    earlier = [
        ("r:1", "email", "a", "A", "run-1"),  # outside the scope
        ("r:2", "email", "b", "B", "run-1"),  # the scope's, the same this run
        ("r:2", "phone", "p", "P", "run-1"),  # the scope's, another value this run
        ("r:3", "email", "c", "C", "run-1"),  # the scope's, gone this run
    ]
    _write(spark, run, TABLE, earlier, SCHEMA)
    return DeltaTable(run.lake.uri(TABLE)).version()


def test_unchanged_rows_keep_their_run_id_changed_gone_and_new_ones_are_written_in_one_commit(spark, lake, run):
    version = _earlier(spark, run)
    scope = spark.createDataFrame([("r:2",), ("r:3",), ("r:4",)], "record_key string")
    rows = spark.createDataFrame(
        [
            ("r:2", "email", "b", "B", "run-2"),
            ("r:2", "phone", "p", "P2", "run-2"),
            ("r:4", "email", "d", "D", "run-2"),
        ],
        SCHEMA,
    )

    _replace_rows(run, TABLE, rows, scope)

    assert {tuple(r.values()) for r in _rows(lake, TABLE)} == {
        ("r:1", "email", "a", "A", "run-1"),
        ("r:2", "email", "b", "B", "run-1"),  # the same row: kept, with the run id that wrote it
        ("r:2", "phone", "p", "P2", "run-2"),
        ("r:4", "email", "d", "D", "run-2"),
    }
    assert len(_rows(lake, TABLE)) == 4
    assert DeltaTable(lake.uri(TABLE)).version() == version + 1


def test_new_rows_alone_are_appended_and_nothing_new_writes_nothing(spark, lake, run):
    version = _earlier(spark, run)
    scope = spark.createDataFrame([("r:2",), ("r:4",)], "record_key string")
    unchanged = [("r:2", "email", "b", "B", "run-2"), ("r:2", "phone", "p", "P", "run-2")]
    rows = spark.createDataFrame([*unchanged, ("r:4", "email", "d", "D", "run-2")], SCHEMA)

    _replace_rows(run, TABLE, rows, scope)

    table = DeltaTable(lake.uri(TABLE))
    assert table.version() == version + 1
    assert table.history(1)[0]["operation"] != "MERGE" and masked_files(lake, TABLE) == 0
    assert {(r["record_key"], r["raw_value"], r["run_id"]) for r in _rows(lake, TABLE)} == {
        ("r:1", "a", "run-1"),
        ("r:2", "b", "run-1"),
        ("r:2", "p", "run-1"),
        ("r:3", "c", "run-1"),
        ("r:4", "d", "run-2"),
    }

    _replace_rows(run, TABLE, spark.createDataFrame(unchanged, SCHEMA), scope.where("record_key = 'r:2'"))
    assert DeltaTable(lake.uri(TABLE)).version() == version + 1


def _values(row: dict, columns: list[str], ids: dict[str, str]) -> tuple[str, ...]:
    return tuple(str(ids.get(row[c], row[c]) if c == "customer_id" else row[c]) for c in columns)


def _replace_every_scope_row(before, after, keys, _ignored=()):
    """The old rule as changed_keys' answer: every key of the scope's earlier and new rows is rewritten."""
    return (
        before.select(*keys, F.lit(True).alias("had_before"))
        .unionByName(after.select(*keys, F.lit(False).alias("had_before")))
        .groupBy(*keys)
        .agg(F.max("had_before").alias("had_before"))
    )


def test_the_tables_hold_the_rows_of_a_run_that_replaces_every_scope_row_run_ids_aside(spark, lakes, monkeypatch):
    lake, other = lakes
    (first_run,) = {r["run_id"] for r in read(lake, layout.IDENTITY_MAP)}
    add_after(spark, lake)
    add_after(spark, other)
    report = resolve(spark, lake, mode="incremental")
    with monkeypatch.context() as patched:
        patched.setattr(resolve_job, "changed_keys", _replace_every_scope_row)
        replaced_all = resolve(spark, other, mode="incremental")
    assert report.scope_records == replaced_all.scope_records

    # A joined A (A2 is new): A1 is in the scope, its row unchanged, so it keeps the first run's run_id.
    rows = {f"{r['source']}:{r['source_record_id']}": r for r in read(lake, layout.IDENTITY_MAP)}
    assert rows["orders:A1"]["run_id"] == first_run and rows["orders:A2"]["run_id"] == report.run_id
    identifiers = [r for r in read(lake, layout.IDENTITY_IDENTIFIERS) if r["record_key"] == "orders:A1"]
    assert identifiers and {r["run_id"] for r in identifiers} == {first_run}
    kept = [r for r in read(lake, layout.IDENTITY_MAP) if r["run_id"] == first_run]
    assert {r["source_record_id"] for r in kept} >= {"A1", "U1"}

    # Every column but run_id (and assigned_at: each run's own time for the records it re-assigned) as the old rule;
    # a new id that clashes with an earlier one is salted with the run id, so ids are compared through the map.
    mine_ids, their_ids = customers_of(lake), customers_of(other)
    assert mine_ids.keys() == their_ids.keys()
    same_id = {mine_ids[k]: their_ids[k] for k in mine_ids}
    assert len(same_id) == len(set(same_id.values())) == len(set(their_ids.values()))
    for table in resolve_job.REPLACED_IN_PLACE:
        mine, theirs = read(lake, table), read(other, table)
        assert mine, table.name
        columns = sorted(set(mine[0]) - {"run_id", "assigned_at"})
        assert sorted(_values(r, columns, same_id) for r in mine) == sorted(_values(r, columns, {}) for r in theirs), (
            table.name
        )
    kept_at = {r["source_record_id"]: r["assigned_at"] for r in read(lake, layout.IDENTITY_MAP)}
    other_at = {r["source_record_id"]: r["assigned_at"] for r in read(other, layout.IDENTITY_MAP)}
    assert kept_at["A1"] == other_at["A1"] and kept_at["U1"] == other_at["U1"]
