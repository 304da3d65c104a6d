"""Purchase preferences kept between builds (int_traits__preferences), as the purchase summaries are: a build
recomputes only the customers with an order ingested since the last build, placed between the two builds' as_of or
re-keyed in the identity map, and keeps every other row. After each change the kept table equals a build of the
same lake from scratch, and so do the customer traits built on it; a customer no change touches keeps its row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from cdp.lake import Lake
from marts.build import build_marts
from tests.marts.conftest import AS_OF, LakeWriter, ts
from tests.marts.test_incremental_purchases import SELECT, _from_scratch, _order, _traits

DAY = timedelta(days=1)
PREFERENCES = "customer_id, preferred_channel, preferred_store_id, preferred_category"


def _order_at(order_id: str, ref: str, at: str, channel: str, store: str | None = None) -> dict:
    return {**_order(order_id, ref, at, 100_000), "channel": channel, "store_id": store}


def _preferences(lake: Lake, *, where: str = "true") -> list[tuple]:
    con = duckdb.connect(str(lake.marts_dir() / "marts.duckdb"))  # dbt in this process may hold it open
    try:
        sql = f"select {PREFERENCES} from main.int_traits__preferences where {where} order by customer_id"
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _assert_as_from_scratch(lake: Lake, tmp: Path, as_of) -> dict[str, tuple]:
    build_marts(lake, as_of=as_of, select=SELECT)
    kept = _preferences(lake)
    fresh = _from_scratch(lake, tmp, as_of)
    assert kept == _preferences(fresh)
    assert _traits(lake) == _traits(fresh)
    return {row[0]: row for row in kept}


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Lake, LakeWriter, Path]:
    tmp = tmp_path_factory.mktemp("preferences")
    lake = Lake(tmp / "lake")
    writer = LakeWriter(lake)
    first = AS_OF - DAY
    orders = [
        ("o-a1", "cus_a", "2025-05-01T09:00:00", "web"),
        ("o-a2", "cus_a", "2025-05-02T09:00:00", "app"),  # a tie: the most recent wins
        ("o-b1", "cus_b", "2025-06-10T09:00:00", "store", "S1"),
        ("o-d1", "cus_d", "2025-07-01T12:00:00", "store", "S2"),  # after the first as_of: counts once as_of passes it
        ("o-e1", "cus_e", "2025-03-01T09:00:00", "web"),  # never touched: kept from build to build
        ("o-f1", "cus_f", "2025-03-01T09:00:00", "app", "S1"),  # the most frequent wins, however recent
        ("o-f2", "cus_f", "2025-03-02T09:00:00", "app", "S1"),
        ("o-f3", "cus_f", "2025-03-03T09:00:00", "web", "S2"),
    ]
    writer.bronze("orders", [_order_at(*o) for o in orders], ingested_at=first)
    for order_id, ref, at, *_ in orders:
        writer.link(ref, "orders", order_id, ts(at), first)
    writer.write_identity()
    build_marts(lake, as_of=AS_OF, select=SELECT)
    rows = {r[0]: r for r in _preferences(lake)}
    assert sorted(rows) == ["cus_a", "cus_b", "cus_e", "cus_f"]
    assert rows["cus_a"][1] == "app" and rows["cus_f"][1:3] == ("app", "S1")
    return lake, writer, tmp


def test_new_orders_and_as_of_passing_an_order(lake) -> None:
    lake, writer, tmp = lake
    batch = AS_OF + DAY / 2
    writer.bronze("orders", [
        _order_at("o-a3", "cus_a", "2025-06-20T08:00:00", "web"),  # new: web now leads
        _order_at("o-b2", "cus_b", "2025-06-11T09:00:00", "app", "S9"),
    ], ingested_at=batch)  # fmt: skip
    writer.link("cus_a", "orders", "o-a3", ts("2025-06-20T08:00:00"), batch)
    writer.link("cus_b", "orders", "o-b2", ts("2025-06-11T09:00:00"), batch)
    writer.write_identity()
    rows = _assert_as_from_scratch(lake, tmp, AS_OF + DAY)
    assert rows["cus_a"][1] == "web" and rows["cus_d"][2] == "S2"


def test_as_of_moved_back_and_an_identity_merge(lake) -> None:
    lake, writer, tmp = lake
    rows = _assert_as_from_scratch(lake, tmp, AS_OF - 10 * DAY)
    assert "cus_d" not in rows  # o-d1 not placed yet
    for row in writer.identity:
        if row["customer_id"] == "cus_d":  # cus_d merged into cus_b
            row["customer_id"], row["assigned_at"] = "cus_b", AS_OF + 1.5 * DAY
    writer.write_identity()
    rows = _assert_as_from_scratch(lake, tmp, AS_OF + 2 * DAY)
    assert "cus_d" not in rows and "cus_b" in rows


def test_a_customer_no_change_touches_keeps_its_row(lake) -> None:
    """The kept row is read back, not recomputed: a value written into it survives the next build."""
    lake, _, _ = lake
    con = duckdb.connect(str(lake.marts_dir() / "marts.duckdb"))
    try:
        con.execute("update main.int_traits__preferences set preferred_store_id = 'kept' where customer_id = 'cus_e'")
    finally:
        con.close()
    build_marts(lake, as_of=AS_OF + 3 * DAY, select=SELECT)
    assert _preferences(lake, where="customer_id = 'cus_e'") == [("cus_e", "web", "kept", None)]
