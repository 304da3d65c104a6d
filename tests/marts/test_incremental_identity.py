"""Incremental identity in the marts: a build after the identity job re-assigned, split, removed and added records
(``assigned_at`` after the last build) touches only those records and their customers, and its marts equal a
build from scratch of the same lake."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta

import duckdb
import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts

FIRST = ts("2025-06-01T00:00:00")  # the identity run before the first build
SECOND = ts("2025-07-01T06:00:00")  # the identity run between the builds
LATER = AS_OF + timedelta(days=1)


def _order(order_id: str, ref: str, at: str, amount: int) -> dict:
    return {"order_id": order_id, "customer_ref": ref, "channel": "web", "ordered_at": ts(at), "status": "delivered",
            "currency": "VND", "total_amount": amount}  # fmt: skip


# (customer_id, source, record id, observed_at) before and after the identity run between the builds
BEFORE = [
    ("cus_a", "orders", "o-a", "2025-02-01T10:00:00"),
    ("cus_b", "orders", "o-b", "2025-03-01T10:00:00"),
    ("cus_c", "orders", "o-c1", "2025-03-05T10:00:00"),
    ("cus_c", "orders", "o-c2", "2025-04-05T10:00:00"),
    ("cus_d", "orders", "o-d", "2025-04-10T10:00:00"),
    ("cus_d", "crm_contacts", "k-d", "2025-04-10T00:00:00"),
    ("cus_g", "orders", "o-g", "2025-05-10T10:00:00"),
]
REASSIGNED = {"o-b": "cus_a", "o-c2": "cus_e"}  # b merged into a; c split, its second order now cus_e
GONE = {"o-d", "k-d"}  # cus_d erased from the identity map
NEW = [("cus_f", "orders", "o-f", "2025-06-20T10:00:00")]


def _write_identity(writer: LakeWriter, rows: list[tuple[str, str, str, str]], assigned: dict[str, object]) -> None:
    writer.identity = []
    for customer_id, source, record_id, observed_at in rows:
        writer.link(customer_id, source, record_id, ts(observed_at), assigned[record_id])
    writer.write_identity()


def _marts_db(lake: Lake, sql: str) -> set[tuple]:
    """A query on a copy of dbt's working database (this process's last build may still hold the file open)."""
    with tempfile.TemporaryDirectory() as folder:
        for file in lake.marts_dir().glob("marts.duckdb*"):
            shutil.copy(file, folder)
        con = duckdb.connect(f"{folder}/marts.duckdb")
        try:
            return set(con.execute(sql).fetchall())
        finally:
            con.close()


def _delta(lake: Lake, table: Table, order_by: str, where: str = "true") -> list[tuple]:
    con = duckdb.connect()
    load_delta_extension(con)
    return con.execute(f"select * from delta_scan('{lake.uri(table)}') where {where} order by {order_by}").fetchall()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> tuple[Lake, Lake]:
    """(the lake built twice, a copy of its inputs built once from scratch at the second build's as_of)."""
    lake = Lake(tmp_path_factory.mktemp("incremental") / "lake")
    writer = LakeWriter(lake)
    orders = [_order(r, c, at, 100_000 + 10_000 * i) for i, (c, s, r, at) in enumerate(BEFORE) if s == "orders"]
    writer.bronze("orders", orders)
    writer.bronze("crm_contacts", [{"contact_id": "k-d", "first_name": "Dee", "updated_at": ts("2025-04-10T00:00:00")}])
    _write_identity(writer, BEFORE, {r: FIRST for _, _, r, _ in BEFORE})
    build_marts(lake, as_of=AS_OF)

    writer.bronze("orders", [_order("o-f", "cus_f", "2025-06-20T10:00:00", 70_000)], ingested_at=SECOND)
    after = [(REASSIGNED.get(r, c), s, r, at) for c, s, r, at in BEFORE if r not in GONE] + NEW
    assigned = {r: SECOND if r in REASSIGNED or r == "o-f" else FIRST for _, _, r, _ in after}
    _write_identity(writer, after, assigned)
    build_marts(lake, as_of=LATER)

    fresh = Lake(lake.root.parent / "fresh")
    shutil.copytree(lake.root, fresh.root)
    shutil.rmtree(fresh.marts_dir())  # what `cdp erase` leaves: no working database, so the next build is full
    for table in (layout.CUSTOMER_TRAIT_HISTORY, layout.AUDIENCE_MEMBERSHIPS):
        shutil.rmtree(fresh.uri(table))
    build_marts(fresh, as_of=LATER)
    return lake, fresh


def test_only_changed_records_and_their_customers_are_rebuilt(rebuilt):
    lake, _ = rebuilt
    changes = _marts_db(
        lake, "select source_record_id, customer_id, previous_customer_id from main.int_identity__record_changes"
    )
    assert changes == {("o-b", "cus_a", "cus_b"), ("o-c2", "cus_e", "cus_c"), ("o-f", "cus_f", None),
                       ("o-d", None, "cus_d"), ("k-d", None, "cus_d")}  # fmt: skip
    scope = _marts_db(lake, "select customer_id from main.int_profile__rebuild_scope")
    assert scope == {(c,) for c in ("cus_a", "cus_b", "cus_c", "cus_d", "cus_e", "cus_f")}  # not cus_g
    records = _marts_db(lake, "select source_record_id, customer_id from main.int_identity__records")
    assert records == {("o-a", "cus_a"), ("o-b", "cus_a"), ("o-c1", "cus_c"), ("o-c2", "cus_e"), ("o-g", "cus_g"),
                       ("o-f", "cus_f")}  # fmt: skip


def test_a_map_without_assigned_at_counts_every_record_as_changed(tmp_path):
    select = "stg_identity__identity_map int_identity__record_changes int_identity__records"
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    writer.bronze("orders", [_order("o-a", "cus_a", "2025-02-01T10:00:00", 100_000)])
    _write_identity(writer, BEFORE[:1], {"o-a": None})
    build_marts(lake, as_of=AS_OF, select=select)
    build_marts(lake, as_of=AS_OF, select=select)
    changes = _marts_db(
        lake, "select source_record_id, customer_id, previous_customer_id from main.int_identity__record_changes"
    )
    assert changes == {("o-a", "cus_a", "cus_a")}
    assert _marts_db(lake, "select source_record_id from main.int_identity__records") == {("o-a",)}


@pytest.mark.parametrize(
    ("table", "order_by"),
    [(layout.CUSTOMERS, "customer_id"), (layout.CUSTOMER_ORDERS, "order_key"), (layout.CUSTOMER_TRAITS, "customer_id")],
)
def test_the_incremental_build_equals_a_build_from_scratch(rebuilt, table, order_by):
    lake, fresh = rebuilt
    assert _delta(lake, table, order_by) == _delta(fresh, table, order_by)


def test_the_trait_history_keeps_both_snapshots_and_the_last_equals_a_build_from_scratch(rebuilt):
    lake, fresh = rebuilt
    history = _delta(lake, layout.CUSTOMER_TRAIT_HISTORY, "as_of, customer_id")
    assert [r[1] for r in history] == [AS_OF] * 5 + [LATER] * 5  # customers a-d and g, then a, c, e, f and g
    latest = f"as_of = '{LATER.isoformat()}'"
    assert history[5:] == _delta(fresh, layout.CUSTOMER_TRAIT_HISTORY, "customer_id", latest)
    assert history[5:] == _delta(lake, layout.CUSTOMER_TRAITS, "customer_id")


def test_retired_and_erased_customers_are_gone_from_the_golden_record(rebuilt):
    lake, _ = rebuilt
    customers = {r[0] for r in _delta(lake, layout.CUSTOMERS, "customer_id")}
    assert customers == {"cus_a", "cus_c", "cus_e", "cus_f", "cus_g"}


def _last_commit(lake: Lake, table: Table) -> tuple[int, str, dict]:
    dt = DeltaTable(lake.uri(table))
    last = dt.history(1)[0]
    return dt.version(), last["operation"], last.get("operationMetrics", {})


def test_customer_orders_writes_only_changed_rows_to_the_lake(rebuilt):
    """Runs last: it builds the lake again. The second build merged 4 rows (one new order, two re-assigned, one
    whose record left the map) instead of rewriting the table; a new order alone is appended; no change, no
    commit."""
    lake, _ = rebuilt
    _, operation, metrics = _last_commit(lake, layout.CUSTOMER_ORDERS)
    assert operation == "MERGE" and metrics["num_source_rows"] == 4
    assert (metrics["num_target_rows_inserted"], metrics["num_target_rows_updated"]) == (1, 3)

    writer = LakeWriter(lake)
    writer.bronze("orders", [_order("o-h", "cus_g", "2025-06-25T10:00:00", 50_000)], ingested_at=LATER)
    writer.identity = [dict(r) for r in _identity_rows(lake)]
    writer.link("cus_g", "orders", "o-h", ts("2025-06-25T10:00:00"), LATER)
    writer.write_identity()
    build_marts(lake, as_of=LATER + timedelta(days=1))
    version, operation, metrics = _last_commit(lake, layout.CUSTOMER_ORDERS)
    assert operation == "WRITE" and metrics["num_added_rows"] == 1
    build_marts(lake, as_of=LATER + timedelta(days=2))
    assert _last_commit(lake, layout.CUSTOMER_ORDERS)[0] == version
    orders = {r[0]: r[1] for r in _delta(lake, layout.CUSTOMER_ORDERS, "order_key")}
    assert orders["orders:o-h"] == "cus_g" and len(orders) == 8


def _identity_rows(lake: Lake) -> list[dict]:
    return DeltaTable(lake.uri(layout.IDENTITY_MAP)).to_pyarrow_table().to_pylist()
