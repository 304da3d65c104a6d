"""The identity tables an incremental run changes in place carry deletion vectors (Sail, Delta, deltalake): the run
marks the replaced rows instead of rewriting the tables, an older lake's tables are upgraded, erasure leaves none of
the person's masked rows in any file, and maintenance rewrites the files that carry deletion vectors."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from activation.erasure import erase
from activation.erasure import resolve as find_person
from cdp import lake as layout
from cdp.lake import Lake
from cdp.maintenance import has_deletion_vectors, maintain, read_arrow, row_count
from spark_jobs.jobs.resolve import REPLACED_IN_PLACE
from tests.activation.test_erasure import leftovers
from tests.spark_jobs.test_incremental_resolve import (
    AFTER,
    add_bronze,
    customers_of,
    lakes,
    partition,
    resolve,
)

__all__ = ["lakes"]  # the fixture: a lake resolved once and its copy
CHANGED = (layout.IDENTITY_MAP, layout.IDENTITY_IDENTIFIERS)  # tables the AFTER rows change in place


def files(lake: Lake, table: layout.Table) -> set[str]:
    return set(pa.table(DeltaTable(lake.uri(table)).get_add_actions(flatten=True)).column("path").to_pylist())


def masked_files(lake: Lake, table: layout.Table) -> int:
    return pa.RecordBatchReader.from_stream(DeltaTable(lake.uri(table)).deletion_vectors()).read_all().num_rows


def add_after(spark, lake: Lake) -> None:
    for source, rows in AFTER.items():
        add_bronze(spark, lake, source, rows, "ingest-2")


def test_an_incremental_run_marks_the_replaced_rows_and_keeps_every_earlier_file(spark, lakes):
    lake, twin = lakes
    before = {t: files(lake, t) for t in CHANGED}
    add_after(spark, lake)
    add_after(spark, twin)
    assert resolve(spark, lake, mode="incremental").mode == "incremental"
    resolve(spark, twin, mode="full")
    for table in CHANGED:
        assert has_deletion_vectors(DeltaTable(lake.uri(table)))
        assert masked_files(lake, table) > 0, table
        assert before[table] <= files(lake, table), f"{table}: an earlier file was rewritten"
    assert partition(customers_of(lake)) == partition(customers_of(twin))


def test_an_older_lakes_tables_are_upgraded_by_its_first_incremental_run(spark, lakes):
    lake, twin = lakes
    for table in REPLACED_IN_PLACE:  # as a run before deletion vectors wrote them
        if lake.exists(table):
            rows = read_arrow(lake.uri(table))
            shutil.rmtree(lake.path(table))
            write_deltalake(lake.uri(table), rows)
            assert not has_deletion_vectors(DeltaTable(lake.uri(table)))
    add_after(spark, lake)
    add_after(spark, twin)
    assert resolve(spark, lake, mode="incremental").mode == "incremental"
    resolve(spark, twin, mode="full")
    for table in CHANGED:
        assert masked_files(lake, table) > 0, table
    assert partition(customers_of(lake)) == partition(customers_of(twin))


def test_erasure_leaves_none_of_the_persons_masked_rows_in_any_file(spark, lakes):
    lake, _ = lakes
    add_after(spark, lake)
    resolve(spark, lake, mode="incremental")  # Mai's contact came again: her earlier identifier rows are masked
    old_email = "mai@gmail.com"
    masked = [
        str(p)
        for p in lake.path(layout.IDENTITY_IDENTIFIERS).glob("*.parquet")
        if old_email in pq.read_table(p).column("value").to_pylist()
    ]
    assert masked, "the test needs her earlier rows in a file of the table"
    person = find_person(lake, customer_id=customers_of(lake)["crm_contacts:K3"])
    erase(lake, person, lookup="customer_id")
    assert leftovers(lake.root, [old_email, "mai.new@gmail.com", "crm_contacts:K3"]) == []
    assert "crm_contacts:K3" not in customers_of(lake)


def test_maintenance_rewrites_a_lone_file_with_a_deletion_vector(spark, tmp_path):
    lake = Lake(tmp_path / "lake")
    table = layout.IDENTITY_IDENTIFIERS
    frame = spark.range(100).selectExpr("concat('r:', cast(id as string)) as record_key")
    frame.coalesce(1).write.format("delta").option("delta.enableDeletionVectors", "true").save(lake.uri(table))
    spark.sql(f"delete from delta.`{lake.uri(table)}` where record_key in ('r:1', 'r:2', 'r:3')")
    assert masked_files(lake, table) == 1
    assert row_count(lake, table) == 97  # the file's statistics say 100
    result = maintain(lake, table, retention_hours=0)
    assert result.files_purged == 1 and masked_files(lake, table) == 0
    physical = [
        k for p in lake.path(table).glob("*.parquet") for k in pq.read_table(p).column("record_key").to_pylist()
    ]
    assert sorted(physical) == sorted(f"r:{i}" for i in range(100) if i not in (1, 2, 3))
    assert row_count(lake, table) == 97
