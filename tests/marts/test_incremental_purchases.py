"""Purchase summaries kept between builds (int_traits__purchases): a build recomputes only the customers with an
order ingested since the last build, an order placed between the two builds' as_of (either way) or an order record
that changed customer, and keeps every other row. After each change (new and re-sent orders with as_of passing a
dated order, as_of moved back, an identity merge, records gone from the map as after an erasure) the kept table
equals a build of the same lake from scratch, and the customer traits built on it too."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts

SELECT = "+customer_traits"
DAY = timedelta(days=1)
# the columns that say when the table was computed, not what (equal anyway, but not the point)
PURCHASES = (
    "customer_id, purchase_count, refund_count, monetary_value, net_amount, first_purchase_at, last_purchase_at, "
    "has_unknown_currency, btyd_frequency, round(btyd_recency, 9), round(btyd_t, 9), btyd_monetary_value, "
    "btyd_first_day"
)


def _order(order_id: str, ref: str, at: str, amount: int, status: str = "delivered") -> dict:
    return {"order_id": order_id, "customer_ref": ref, "email": f"{ref}@mail.test", "channel": "web",
            "ordered_at": ts(at), "status": status, "currency": "VND", "total_amount": amount}  # fmt: skip


def _purchases(lake: Lake) -> list[tuple]:
    con = duckdb.connect(str(lake.marts_dir() / "marts.duckdb"))  # dbt in this process may hold it open
    try:
        return con.execute(f"select {PURCHASES} from main.int_traits__purchases order by customer_id").fetchall()
    finally:
        con.close()


def _traits(lake: Lake) -> list[tuple]:
    con = duckdb.connect()
    load_delta_extension(con)
    return con.execute(
        f"select * exclude (as_of) from delta_scan('{lake.uri(layout.CUSTOMER_TRAITS)}') order by customer_id"
    ).fetchall()


def _from_scratch(lake: Lake, tmp: Path, as_of) -> Lake:
    fresh = Lake(tmp / "fresh")
    shutil.rmtree(fresh.root, ignore_errors=True)
    shutil.copytree(lake.root, fresh.root)
    shutil.rmtree(fresh.marts_dir())  # no dbt database: every table built from its inputs
    build_marts(fresh, as_of=as_of, select=SELECT)
    return fresh


def _assert_as_from_scratch(lake: Lake, tmp: Path, as_of) -> list[tuple]:
    """Build ``lake`` as of ``as_of`` (from its last build), then a copy of it from scratch: the same rows."""
    build_marts(lake, as_of=as_of, select=SELECT)
    kept = _purchases(lake)
    fresh = _from_scratch(lake, tmp, as_of)
    assert kept == _purchases(fresh)
    assert _traits(lake) == _traits(fresh)
    return kept


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Lake, LakeWriter, Path]:
    tmp = tmp_path_factory.mktemp("purchases")
    lake = Lake(tmp / "lake")
    writer = LakeWriter(lake)
    first = AS_OF - DAY
    orders = [
        ("o-a1", "cus_a", "2025-05-01T09:00:00", 100_000),
        ("o-a2", "cus_a", "2025-05-01T18:00:00", 50_000),  # same day: one occasion
        ("o-a3", "cus_a", "2025-06-01T09:00:00", 30_000),
        ("o-b1", "cus_b", "2025-06-10T09:00:00", 70_000),
        ("o-c1", "cus_c", "2025-04-01T09:00:00", 20_000),
        ("o-c2", "cus_c", "2025-06-15T09:00:00", 40_000),
        ("o-d1", "cus_d", "2025-07-01T12:00:00", 90_000),  # after the first as_of: counts once as_of passes it
        ("o-e1", "cus_e", "2025-03-01T09:00:00", 10_000),  # never touched: kept from build to build
    ]
    writer.bronze("orders", [_order(*o) for o in orders], ingested_at=first)
    for order_id, ref, at, _ in orders:
        writer.link(ref, "orders", order_id, ts(at), first)
    writer.write_identity()
    build_marts(lake, as_of=AS_OF, select=SELECT)
    assert [r[0] for r in _purchases(lake)] == ["cus_a", "cus_b", "cus_c", "cus_e"]
    return lake, writer, tmp


def test_new_and_resent_orders_and_as_of_passing_an_order(lake) -> None:
    lake, writer, tmp = lake
    batch = AS_OF + DAY / 2
    writer.bronze("orders", [
        _order("o-a4", "cus_a", "2025-07-01T08:00:00", 25_000),  # new
        _order("o-b1", "cus_b", "2025-06-10T09:00:00", 70_000, status="refunded"),  # re-sent: no longer a purchase
    ], ingested_at=batch)  # fmt: skip
    writer.link("cus_a", "orders", "o-a4", ts("2025-07-01T08:00:00"), batch)
    writer.write_identity()
    rows = {r[0]: r for r in _assert_as_from_scratch(lake, tmp, AS_OF + DAY)}
    assert rows["cus_a"][1] == 4 and rows["cus_b"][1] == 0 and rows["cus_d"][1] == 1


def test_as_of_moved_back(lake) -> None:
    lake, _, tmp = lake
    rows = {r[0]: r for r in _assert_as_from_scratch(lake, tmp, AS_OF - 10 * DAY)}
    assert "cus_d" not in rows and rows["cus_a"][1] == 3  # o-a4 and o-d1 not placed yet


def test_an_identity_merge(lake) -> None:
    lake, writer, tmp = lake
    at = AS_OF + 2 * DAY
    for row in writer.identity:
        if row["customer_id"] == "cus_c":  # cus_c merged into cus_b
            row["customer_id"], row["assigned_at"] = "cus_b", at - DAY / 2
    writer.write_identity()
    rows = {r[0]: r for r in _assert_as_from_scratch(lake, tmp, at)}
    assert "cus_c" not in rows and rows["cus_b"][1] == 2


def test_records_gone_from_the_map(lake) -> None:
    lake, writer, tmp = lake
    writer.identity = [row for row in writer.identity if row["customer_id"] != "cus_b"]  # as an erasure leaves it
    writer.write_identity()
    rows = {r[0]: r for r in _assert_as_from_scratch(lake, tmp, AS_OF + 3 * DAY)}
    assert "cus_b" not in rows and set(rows) == {"cus_a", "cus_d", "cus_e"}
