"""The dbt build on a small lake with the edge cases of issue 5, read back from the Delta tables it writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.build import BuildFailed, build_marts, dbt_args, lake_environment, latest_as_of, prepare
from marts.duckdb_delta import load_delta_extension
from marts.schedule import read_node_seconds
from tests.marts.conftest import AS_OF, LakeWriter, ts


def _read(lake: Lake, table: Table, where: str = "true") -> list[dict]:
    con = duckdb.connect()
    load_delta_extension(con)
    cursor = con.execute(f"select * from delta_scan('{lake.uri(table)}') where {where}")
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


BUYERS = 24
CUSTOMERS = BUYERS + 5  # + one, refund, usd, a, b


def _order(order_id: str, ref: str, at: str, amount: float, *, status="delivered", currency="VND", channel="web"):
    ordered_at = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return {"order_id": order_id, "customer_ref": ref, "channel": channel, "ordered_at": ordered_at, "status": status,
            "currency": currency, "total_amount": Decimal(str(amount))}  # fmt: skip


def _seed_lake(w: LakeWriter) -> None:
    orders = []
    # 24 ordinary buyers with varied habits (enough for the CLV fit): 1-5 orders at 5-44 day gaps
    for i in range(BUYERS):
        customer, first = f"cus_buyer{i:02d}", ts("2025-01-02T10:00:00") + timedelta(days=i)
        for k in range(1 + i * 7 % 5):
            order_id, at = f"o-{i}-{k}", first + timedelta(days=k * (5 + i * 13 % 40))
            orders.append(_order(order_id, customer, at.isoformat(), 50_000 + 7_000 * ((i * k) % 11)))
            w.link(customer, "orders", order_id, at)
    # one order only
    orders.append(_order("o-one", "cus_one", "2025-05-01T10:00:00", 250_000))
    w.link("cus_one", "orders", "o-one", ts("2025-05-01T10:00:00"))
    # refunds: a refunded order, a negative and a zero total; none is a purchase
    for order_id, amount, status in (("o-r1", 90_000, "refunded"), ("o-r2", -50_000, "delivered"), ("o-r3", 0, "paid")):
        orders.append(_order(order_id, "cus_refund", "2025-04-01T10:00:00", amount, status=status))
        w.link("cus_refund", "orders", order_id, ts("2025-04-01T10:00:00"))
    # an order in US dollars, placed before the CRM first saw the person
    orders.append(_order("o-usd", "cus_usd", "2025-02-01T10:00:00", 10.0, currency="USD"))
    w.link("cus_usd", "orders", "o-usd", ts("2025-02-01T10:00:00"))
    w.bronze("crm_contacts", [{"contact_id": "k-usd", "first_name": "Dana", "updated_at": ts("2025-06-01T00:00:00")}])
    w.link("cus_usd", "crm_contacts", "k-usd", ts("2025-06-01T00:00:00"))
    # two people who will turn out to be one (lapsed buyers: last order 100-200 days before as_of)
    for customer, order_id in (("cus_a", "o-a"), ("cus_b", "o-b")):
        orders.append(_order(order_id, customer, "2025-02-15T10:00:00", 300_000))
        w.link(customer, "orders", order_id, ts("2025-02-15T10:00:00"))
    w.bronze("orders", orders)
    w.write_identity()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("marts") / "lake")
    writer = LakeWriter(lake)
    _seed_lake(writer)
    build_marts(lake, as_of=AS_OF)
    return lake


def _traits(lake: Lake) -> dict[str, dict]:
    return {r["customer_id"]: r for r in _read(lake, layout.CUSTOMER_TRAITS)}


def test_every_mart_is_a_delta_table(built):
    for table in (layout.CUSTOMERS, layout.CUSTOMER_ORDERS, layout.CUSTOMER_TRAITS, layout.CUSTOMER_TRAIT_HISTORY,
                  layout.CUSTOMER_CONSENTS, layout.CLV_MODEL_FIT, layout.CUSTOMER_CLV, layout.AUDIENCES,
                  layout.AUDIENCE_MEMBERSHIPS):  # fmt: skip
        assert built.exists(table), table
    assert len(_read(built, layout.CUSTOMERS)) == CUSTOMERS  # one row per customer_id in the identity map


def test_a_customer_with_one_order(built):
    one = _traits(built)["cus_one"]
    assert one["frequency"] == 1 and one["refund_count"] == 0
    assert one["p_alive"] == pytest.approx(1.0)  # BG/NBD: no repeat purchase yet means alive by definition
    assert one["expected_purchases_365d"] > 0


def test_refunds_and_zero_totals_are_not_purchases(built):
    refund = _traits(built)["cus_refund"]
    assert refund["frequency"] == 0 and refund["refund_count"] == 3
    assert float(refund["net_amount"]) == 40_000  # 90,000 - 50,000 + 0
    assert refund["value_segment"] == "prospect" and refund["p_alive"] is None


def test_other_currencies_are_converted_to_the_reporting_currency(built):
    order = _read(built, layout.CUSTOMER_ORDERS, "order_key = 'orders:o-usd'")[0]
    assert float(order["amount_reporting"]) == 254_000.0  # 10 USD at 25,400 VND per USD (seeds/currency_rates.csv)
    assert order["reporting_currency"] == "VND" and not order["has_unknown_currency"]


def test_an_order_before_the_first_crm_record_counts_in_tenure(built):
    usd = _traits(built)["cus_usd"]
    assert usd["first_seen_at"] == ts("2025-02-01T10:00:00").astimezone(usd["first_seen_at"].tzinfo)
    assert usd["tenure_days"] == pytest.approx((AS_OF - ts("2025-02-01T10:00:00")).total_seconds() / 86400)
    customer = _read(built, layout.CUSTOMERS, "customer_id = 'cus_usd'")[0]
    assert customer["first_name"] == "Dana" and customer["first_name_source"] == "crm_contacts"


def test_no_consent_events_means_no_consent(built):
    assert built.exists(layout.bronze("consent_events"))  # created empty, not an error
    assert _read(built, layout.CUSTOMER_CONSENTS) == []
    flags = [v for t in _traits(built).values() for k, v in t.items() if k.startswith("consent_")]
    assert flags and not any(flags)


def test_the_clv_fit_is_recorded(built):
    fits = {r["model"]: r for r in _read(built, layout.CLV_MODEL_FIT)}
    assert set(fits) == {"bg_nbd", "gamma_gamma"}
    assert fits["bg_nbd"]["customers"] == CUSTOMERS - 1  # every buyer; the refund-only customer never bought
    assert fits["bg_nbd"]["log_likelihood"] < 0 and fits["bg_nbd"]["time_unit_days"] == 7
    # fitted on data up to the build's as_of, not the wall clock (the next build decides on re-use from it)
    assert fits["bg_nbd"]["observation_end"] == AS_OF.astimezone(fits["bg_nbd"]["observation_end"].tzinfo)


def test_refit_clv_reaches_the_fit_without_dbt_vars(built):
    """`cdp build --refit-clv` travels as CDP_CLV_REFIT (a DuckDB variable), not --vars; without it, re-use."""
    as_of = latest_as_of(built)
    assert as_of is not None

    def fitted_at() -> datetime:
        return {r["model"]: r for r in _read(built, layout.CLV_MODEL_FIT)}["bg_nbd"]["fitted_at"]

    first = fitted_at()
    build_marts(built, as_of=as_of, select="clv_model_fit")
    assert fitted_at() == first
    build_marts(built, as_of=as_of, select="clv_model_fit", refit_clv=True)
    assert fitted_at() > first


def test_identity_merge_keeps_membership_history_consistent(built, tmp_path):
    members = _read(built, layout.AUDIENCE_MEMBERSHIPS, "audience_name = 'lapsed_buyers'")
    assert {"cus_a", "cus_b"} <= {m["customer_id"] for m in members if m["exited_at"] is None}
    # identity resolution merges b into a; a new order arrives (incremental); the next build is a day later
    writer = LakeWriter(built)
    _seed_identity_again(writer)
    writer.bronze(
        "orders", [_order("o-new", "cus_one", "2025-06-30T10:00:00", 100_000)], ingested_at=AS_OF + timedelta(hours=1)
    )
    writer.link("cus_one", "orders", "o-new", ts("2025-06-30T10:00:00"))
    writer.write_identity()
    crm_update = {"contact_id": "k-usd", "first_name": "Dana-Mai", "updated_at": ts("2025-06-30T00:00:00")}
    writer.bronze("crm_contacts", [crm_update], ingested_at=AS_OF + timedelta(hours=2))
    later = AS_OF + timedelta(days=1)

    build_marts(built, as_of=later)

    rows = _read(built, layout.AUDIENCE_MEMBERSHIPS, "audience_name = 'lapsed_buyers'")
    b_rows = [r for r in rows if r["customer_id"] == "cus_b"]
    assert len(b_rows) == 1 and b_rows[0]["exit_reason"] == "customer_id_retired"
    assert b_rows[0]["exited_at"] == later.astimezone(b_rows[0]["exited_at"].tzinfo)
    a_rows = [r for r in rows if r["customer_id"] == "cus_a"]
    assert len(a_rows) == 1 and a_rows[0]["exited_at"] is None  # still in, never re-entered
    assert _traits(built)["cus_one"]["frequency"] == 2  # the new order arrived through the incremental model
    # the golden record was rebuilt only where records changed, and the retired id is gone
    customers = {r["customer_id"]: r for r in _read(built, layout.CUSTOMERS)}
    assert "cus_b" not in customers and customers["cus_a"]["source_records"] == 2
    assert customers["cus_usd"]["first_name"] == "Dana-Mai"  # a re-exported CRM contact is picked up
    assert len(customers) == CUSTOMERS - 1
    history = _read(built, layout.CUSTOMER_TRAIT_HISTORY)
    assert sorted({r["as_of"].timestamp() for r in history}) == [AS_OF.timestamp(), later.timestamp()]


def _seed_identity_again(writer: LakeWriter) -> None:
    previous = [dict(r) for r in _read(writer.lake, layout.IDENTITY_MAP)]
    for row in previous:
        if row["customer_id"] == "cus_b":
            row["customer_id"] = "cus_a"
        writer.identity.append(row)


def test_a_failing_dbt_test_fails_the_build_with_the_node(built, tmp_path):
    broken = Lake(tmp_path / "lake")
    writer = LakeWriter(broken)
    writer.bronze("orders", [_order("o-1", "x", "2025-01-01T00:00:00", 10)])
    writer.link("cus_x", "orders", "o-1", ts("2025-01-01T00:00:00"))
    writer.link("cus_x", "orders", "o-1", ts("2025-01-01T00:00:00"))  # one record twice: customer_orders key repeats
    writer.write_identity()

    with pytest.raises(BuildFailed, match="primary_key_customer_orders_order_key"):
        build_marts(broken, as_of=AS_OF)


def test_a_build_cannot_go_back_in_time(built):
    with pytest.raises(BuildFailed, match="before the last build"):
        build_marts(built, as_of=AS_OF - timedelta(days=30))


def test_python_models_leave_no_copy_of_their_rows_in_the_marts_database(built):
    """dbt-duckdb leaves a Python incremental model's new rows behind as <model>__dbt_tmp<timestamp> (a post-hook
    drops them): two more builds, and the marts' DuckDB file holds no such table."""
    python_models = "int_cx__text_analyses int_cx__key_driver_estimates"
    for days in (1, 2):
        build_marts(built, as_of=latest_as_of(built) + timedelta(days=days), select=python_models)
    with duckdb.connect(str(built.marts_dir() / "marts.duckdb")) as con:
        tables = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {"int_cx__text_analyses", "int_cx__key_driver_estimates"} <= tables
    assert not [name for name in tables if "__dbt_tmp" in name]


def _parse_events(lake: Lake, as_of: datetime, extra_vars: dict | None = None) -> list[str]:
    from dbt.cli.main import dbtRunner

    events: list[str] = []
    with lake_environment(lake, "local", as_of=as_of):
        result = dbtRunner(callbacks=[lambda e: events.append(e.info.name)]).invoke(
            ["parse", *dbt_args(lake, "local", extra_vars)]
        )
    assert result.success, result.exception
    return events


def test_a_new_as_of_keeps_dbt_partial_parsing(tmp_path):
    """as_of travels outside --vars (a changed var makes dbt re-parse the whole project on every build)."""
    lake = Lake(tmp_path / "lake")
    prepare(lake)
    assert "UnableToPartialParse" in _parse_events(lake, AS_OF)  # the first parse has no saved manifest
    assert "UnableToPartialParse" not in _parse_events(lake, AS_OF + timedelta(days=1))
    # the check can fail: a per-run --vars value defeats partial parsing
    assert "UnableToPartialParse" in _parse_events(lake, AS_OF, {"clv_refit": True})


def test_the_last_builds_as_of_is_exact_when_its_statistic_is_truncated(lake: Lake):
    """latest_as_of reads the files' statistics, then only the rows at or after them: a sub-millisecond as_of
    (a statistic may keep milliseconds only) is still the exact newest, across snapshots and files."""
    import pyarrow as pa
    from deltalake import write_deltalake

    first, second = AS_OF, AS_OF + timedelta(days=1, microseconds=123_457)
    for as_of in (first, second, first):  # an older snapshot written last must not win
        rows = pa.table({"customer_id": ["a", "b"], "as_of": pa.array([as_of] * 2, pa.timestamp("us", tz="UTC"))})
        write_deltalake(lake.uri(layout.CUSTOMER_TRAIT_HISTORY), rows, mode="append")
    assert latest_as_of(lake) == second


def test_the_build_records_each_node_s_seconds_for_the_next_build_s_order(built):
    results = json.loads((built.marts_dir() / "target" / "run_results.json").read_text())["results"]
    recorded = read_node_seconds(built)
    latest = {**recorded.from_scratch, **recorded.incremental}  # no build of this module refreshes fully

    assert results
    for result in results:
        assert latest[result["unique_id"]] == pytest.approx(result["execution_time"], abs=0.001)
