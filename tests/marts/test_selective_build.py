"""A build that leaves out the nodes none of whose inputs moved (marts/build_state.py) leaves every gold table as a
build of every node would: two lakes take the same writes (new orders, a consent change at the same as_of, an
identity merge, an erasure) and are built after each, one leaving unchanged nodes out, one building all of them."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from activation.erasure import erase, resolve
from cdp import lake as layout
from cdp.lake import Lake
from marts.build import BuildReport, build_marts, run_dbt
from marts.build_state import delta_version, last_invocation_id, read_state
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts

DAY = timedelta(days=1)
# Columns that hold when a build ran, not what it computed
_WALL_CLOCK = {layout.CLV_MODEL_FIT.name: {"fitted_at"}}


def _order(order_id: str, ref: str, at: str, amount: int) -> dict:
    return {"order_id": order_id, "customer_ref": ref, "email": f"{ref}@mail.test", "channel": "web",
            "ordered_at": ts(at), "status": "delivered", "currency": "VND", "total_amount": amount}  # fmt: skip


def _consent(consent_id: str, ref: str, status: str, at: str) -> dict:
    return {"consent_id": consent_id, "customer_ref": ref, "purpose": "marketing", "channel": "email",
            "status": status, "occurred_at": ts(at)}  # fmt: skip


class Twin:
    """The same writes to two lakes; ``build`` builds both as of the same time."""

    def __init__(self, root) -> None:
        self.lakes = {"selective": Lake(root / "selective"), "everything": Lake(root / "everything")}
        self.writers = {name: LakeWriter(lake) for name, lake in self.lakes.items()}

    def bronze(self, source: str, rows: list[dict], ingested_at) -> None:
        for writer in self.writers.values():
            writer.bronze(source, rows, ingested_at=ingested_at)

    def link(self, customer_id: str, source: str, record_id: str, at: str, assigned_at) -> None:
        for writer in self.writers.values():
            writer.link(customer_id, source, record_id, ts(at), assigned_at)

    def reassign(self, record_id: str, customer_id: str, assigned_at) -> None:
        for writer in self.writers.values():
            for row in writer.identity:
                if row["source_record_id"] == record_id:
                    row["customer_id"], row["assigned_at"] = customer_id, assigned_at

    def write_identity(self) -> None:
        for writer in self.writers.values():
            writer.write_identity()

    def build(self, as_of) -> BuildReport:
        build_marts(self.lakes["everything"], as_of=as_of, skip_unchanged=False)
        return build_marts(self.lakes["selective"], as_of=as_of)


def _gold(lake: Lake) -> dict[str, list[tuple]]:
    """Every gold table's rows, sorted, floats to 9 significant digits."""
    con = duckdb.connect()
    load_delta_extension(con)
    tables = {}
    for table in lake.tables():
        if table.layer != layout.Layer.GOLD or table == layout.IDENTITY_MAP:
            continue
        relation = con.sql(f"select * from delta_scan('{lake.uri(table)}')")
        skip = _WALL_CLOCK.get(table.name, set())
        keep = [i for i, column in enumerate(relation.columns) if column not in skip]
        rows = [tuple(_round(row[i]) for i in keep) for row in relation.fetchall()]
        tables[table.name] = sorted(rows, key=repr)
    con.close()
    return tables


def _round(value):
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.9g}")
    return value


def _ran(report: BuildReport) -> set[str]:
    return {node.split(".")[-1] if not node.startswith("test.") else node for node, _, _ in report.results}


def _assert_same_gold(twin: Twin) -> None:
    selective, everything = _gold(twin.lakes["selective"]), _gold(twin.lakes["everything"])
    assert selective.keys() == everything.keys()
    for name in everything:
        assert selective[name] == everything[name], name


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Twin:
    twin = Twin(tmp_path_factory.mktemp("selective"))
    first = ts("2025-06-01T00:00:00")
    twin.bronze("orders", [_order("o-a", "cus_a", "2025-02-01T10:00:00", 100_000),
                           _order("o-b", "cus_b", "2025-03-01T10:00:00", 200_000)], ingested_at=first)  # fmt: skip
    twin.bronze("consent_events", [_consent("n-b", "cus_b", "granted", "2025-03-01T10:00:00")], ingested_at=first)
    twin.link("cus_a", "orders", "o-a", "2025-02-01T10:00:00", first)
    twin.link("cus_b", "orders", "o-b", "2025-03-01T10:00:00", first)
    twin.link("cus_b", "consent_events", "n-b", "2025-03-01T10:00:00", first)
    twin.write_identity()
    report = twin.build(AS_OF)
    assert report.plan == "no record of a complete build" and read_state(twin.lakes["selective"]) is not None
    _assert_same_gold(twin)
    return twin


def test_new_orders_the_next_day(twin: Twin) -> None:
    at = AS_OF + DAY
    twin.bronze("orders", [_order("o-a2", "cus_a", "2025-06-20T10:00:00", 50_000)], ingested_at=at - DAY / 2)
    twin.link("cus_a", "orders", "o-a2", "2025-06-20T10:00:00", at - DAY / 2)
    twin.write_identity()
    ran = _ran(twin.build(at))
    assert "customer_orders" in ran and "customer_traits" in ran  # orders moved; traits use as_of
    assert "stg_consent__events" not in ran and "int_journeys__sessions" not in ran  # neither moved
    _assert_same_gold(twin)


def test_a_consent_change_at_the_same_as_of(twin: Twin) -> None:
    at = AS_OF + DAY
    twin.bronze("consent_events", [_consent("n-b2", "cus_b", "withdrawn", "2025-06-25T10:00:00")], ingested_at=at)
    twin.link("cus_b", "consent_events", "n-b2", "2025-06-25T10:00:00", at)
    twin.write_identity()
    ran = _ran(twin.build(at))
    assert "customer_consents" in ran and "customer_consent_ranges" in ran
    assert "stg_orders__orders" not in ran and "int_cx__text_analyses" not in ran  # as_of did not move
    _assert_same_gold(twin)


def test_an_identity_merge(twin: Twin) -> None:
    at = AS_OF + 2 * DAY
    twin.reassign("o-b", "cus_a", at - DAY / 2)  # b merged into a
    twin.reassign("n-b", "cus_a", at - DAY / 2)
    twin.reassign("n-b2", "cus_a", at - DAY / 2)
    twin.write_identity()
    ran = _ran(twin.build(at))
    assert "int_identity__records" in ran and "customers" in ran
    _assert_same_gold(twin)
    assert {r[0] for r in _gold(twin.lakes["selective"])["customers"]} == {"cus_a"}


def test_an_erasure_then_nothing_new(twin: Twin, capsys) -> None:
    at = AS_OF + 3 * DAY
    for lake in twin.lakes.values():
        erase(lake, resolve(lake, customer_id="cus_a"), lookup="customer_id", run_by="test")
        assert read_state(lake) is None  # the marts folder is gone with dbt's database
    capsys.readouterr()
    report = twin.build(at)
    assert report.plan == "no record of a complete build"
    assert "START" not in capsys.readouterr().out  # dbt runs --quiet: its node lines only in the file log
    assert "START" in (twin.lakes["selective"].marts_dir() / "logs" / "dbt.log").read_text()
    _assert_same_gold(twin)
    assert _gold(twin.lakes["selective"])["customers"] == []

    again = build_marts(twin.lakes["selective"], as_of=at)  # nothing moved, same as_of: no node runs
    assert again.results == [] and again.plan.startswith("sources moved: none")
    _assert_same_gold(twin)


def test_the_state_keeps_dbt_s_graph_and_any_other_dbt_command_makes_the_next_build_complete(twin: Twin) -> None:
    lake, at = twin.lakes["selective"], AS_OF + 3 * DAY
    state = read_state(lake)  # after a build that ran no node (the test above): the graph of the one before
    assert state is not None and "model.cdp.customers" in state.graph["nodes"] and state.graph["sources"]
    target = lake.marts_dir() / "target"
    assert not (target / "manifest.json").exists()  # the graph stayed in memory; dbt's run results are written
    assert state.invocation_id == last_invocation_id(lake) != ""
    run_dbt(lake, ["test", "--select", "customers"], as_of=at)  # dbt by hand on this lake's target
    assert build_marts(lake, as_of=at).plan == "another dbt command ran on this lake since the last build"


def test_a_table_written_again_from_scratch_counts_as_moved(tmp_path) -> None:
    """The same version number (0) after the table was deleted and written again is not the same table."""
    path = tmp_path / "bronze" / "orders"
    write_deltalake(str(path), pa.table({"order_id": ["o-1"]}))
    before = delta_version(path)
    shutil.rmtree(path)
    write_deltalake(str(path), pa.table({"order_id": ["o-2"]}))
    assert before is not None and before.startswith("0@") and delta_version(path) != before
    assert delta_version(tmp_path / "missing") is None
