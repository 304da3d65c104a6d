"""The lake layout and Delta maintenance through deltalake on tables written by Spark."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake, Layer, Table
from cdp.maintenance import history, maintain_all, row_count
from cdp.tables import append


def test_every_table_lives_at_lake_layer_name(tmp_path):
    lake = Lake(tmp_path)
    assert lake.path(layout.bronze("events")) == tmp_path / "bronze" / "events"
    assert lake.path(layout.quarantine("orders")) == tmp_path / "quarantine" / "orders"
    assert lake.path(layout.INGEST_LOG) == tmp_path / "audit" / "ingest_log"
    assert lake.table("gold.customers") == Table(Layer.GOLD, "customers")


@pytest.mark.parametrize("name", ["customers", "platinum.customers", "gold."])
def test_a_bad_table_name_says_how_to_write_one(tmp_path, name):
    with pytest.raises(ValueError, match=r"write <layer>\.<table> with layer one of bronze, quarantine"):
        Lake(tmp_path).table(name)


def test_maintenance_compacts_small_appends_vacuums_and_keeps_the_data(spark, tmp_path):
    lake = Lake(tmp_path)
    table = layout.bronze("events")
    for batch in range(4):  # four small appends: four small files
        append(spark.createDataFrame([(batch, f"m{batch}")], "n int, messageId string"), lake, table)
    assert lake.tables() == [table]
    assert len(DeltaTable(lake.uri(table)).file_uris()) == 4
    (result,) = maintain_all(lake, retention_hours=0)
    assert (result.files_before, result.files_after, result.files_compacted, result.files_vacuumed) == (4, 1, 4, 4)
    assert row_count(lake, table) == 4
    assert sorted(r.n for r in spark.read.format("delta").load(lake.uri(table)).collect()) == [0, 1, 2, 3]
    operations = [entry.operation for entry in history(lake, table)]
    assert "OPTIMIZE" in operations and operations.count("WRITE") + operations.count("CREATE TABLE") >= 4
