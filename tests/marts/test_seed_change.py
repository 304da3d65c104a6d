"""A corrected seed reaches the rows built before it: a build after a change to seeds/currency_rates.csv rebuilds the
seed's descendants from scratch (marts/build_state.py, changed_seeds), so an earlier order gets the corrected
conversion without `cdp build --full-refresh`, and the rest of the project is not refreshed.

The build runs on a copy of the dbt project, so the repository's seed is never edited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts


def _read(lake: Lake, table: Table, where: str) -> list[dict]:
    con = duckdb.connect()
    load_delta_extension(con)
    cursor = con.execute(f"select * from delta_scan('{lake.uri(table)}') where {where}")
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _order(order_id: str, ref: str, at: str, currency: str, amount: str) -> dict:
    return {"order_id": order_id, "customer_ref": ref, "channel": "web", "ordered_at": ts(at), "status": "delivered",
            "currency": currency, "total_amount": Decimal(amount)}  # fmt: skip


def _set_rate(project: Path, currency: str, units_per_usd: str) -> None:
    seed = project / "seeds" / "currency_rates.csv"
    lines = [
        f"{currency},{units_per_usd}" if line.startswith(f"{currency},") else line
        for line in seed.read_text().splitlines()
    ]
    seed.write_text("\n".join(lines) + "\n")


def test_a_corrected_rate_reaches_earlier_orders(project_copy: Path, tmp_path: Path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    writer.bronze("orders", [_order("o-eur", "cus_eur", "2025-03-01T10:00:00", "EUR", "92")])
    writer.link("cus_eur", "orders", "o-eur", ts("2025-03-01T10:00:00"))
    writer.write_identity()
    first = build_marts(lake, as_of=AS_OF)
    assert first.refreshed_seeds == []  # a first build builds everything from scratch anyway
    # 92 EUR at 0.92 EUR and 25,400 VND per USD
    assert _read(lake, layout.CUSTOMER_ORDERS, "true")[0]["amount_reporting"] == Decimal("2540000.00")

    _set_rate(project_copy, "EUR", "0.8")  # the rate is corrected; a new order arrives too
    writer.bronze("orders", [_order("o-usd", "cus_usd", "2025-06-01T10:00:00", "USD", "10")], ingested_at=AS_OF)
    writer.link("cus_usd", "orders", "o-usd", ts("2025-06-01T10:00:00"))
    writer.write_identity()
    second = build_marts(lake, as_of=AS_OF + timedelta(days=1))

    assert second.refreshed_seeds == ["currency_rates"]
    assert "seeds changed since the last build: currency_rates" in second.plan
    amounts = {r["order_key"]: r["amount_reporting"] for r in _read(lake, layout.CUSTOMER_ORDERS, "true")}
    assert amounts == {"orders:o-eur": Decimal("2921000.00"), "orders:o-usd": Decimal("254000.00")}  # 92 / 0.8 * 25,400
    traits = _read(lake, layout.CUSTOMER_TRAITS, "customer_id = 'cus_eur'")[0]
    assert traits["net_amount"] == Decimal("2921000.00")

    third = build_marts(lake, as_of=AS_OF + timedelta(days=1))  # nothing changed: no refresh again
    assert third.refreshed_seeds == []


def test_marts_built_before_the_seed_record_refresh_every_seed_once(project_copy: Path, tmp_path: Path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    writer.bronze("orders", [_order("o-eur", "cus_eur", "2025-03-01T10:00:00", "EUR", "92")])
    writer.link("cus_eur", "orders", "o-eur", ts("2025-03-01T10:00:00"))
    writer.write_identity()
    build_marts(lake, as_of=AS_OF)
    (lake.marts_dir() / "seeds.json").unlink()  # as a build before the record left the lake

    upgraded = build_marts(lake, as_of=AS_OF + timedelta(days=1))
    assert upgraded.refreshed_seeds == sorted(p.stem for p in (project_copy / "seeds").rglob("*.csv"))
    assert build_marts(lake, as_of=AS_OF + timedelta(days=2)).refreshed_seeds == []
