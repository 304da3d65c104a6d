"""The journey marts built by dbt on a tiny lake (real Delta tables, real DuckDB), read back from gold.

One customer journey per edge case: a full web funnel, an anonymous abandoned cart, a purchase with no view, an
app cart bought on the web the next morning by the same customer, a cart still inside its window at as_of, and
orders and tickets that cross channels. A second build adds a late app event (ingested after the first build) to
check that the incremental sessions re-sessionise that visitor.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import duckdb
import pytest

from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.journeys.conftest import JourneyLake
from tests.marts.conftest import AS_OF, ts

# customers too: customer_orders carries a relationships test to it
SELECT = "+path:models/marts/journeys +customers"
FULL_FUNNEL = ["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed"]


def _read(lake: Lake, table: Table, order_by: str) -> list[dict]:
    con = duckdb.connect()
    load_delta_extension(con)
    cursor = con.execute(f"select * from delta_scan('{lake.uri(table)}') order by {order_by}")
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _order(order_id: str, ref: str, at: str, *, channel: str = "web", status: str = "delivered", **extra) -> dict:
    return {"order_id": order_id, "customer_ref": ref, "channel": channel, "ordered_at": ts(at), "status": status,
            "currency": "VND", "total_amount": Decimal("500000"), **extra}  # fmt: skip


def _seed(w: JourneyLake) -> None:
    # web: cus_a's full funnel; an anonymous cart never bought; an Order Completed with nothing before it
    w.session("v1", ts("2025-06-16T10:00:00"), FULL_FUNNEL, customer_id="cus_a", order_id="o-web1")
    w.session("v2", ts("2025-06-17T10:00:00"), ["Product Viewed", "Product Added"])
    w.session("v3", ts("2025-06-18T10:00:00"), ["Order Completed"], order_id="o-x")
    # cus_b: an app cart and checkout at noon, bought on the web the next morning (another device)
    w.session("v4", ts("2025-06-16T12:00:00"), FULL_FUNNEL[:2] + FULL_FUNNEL[3:4], channel="app", customer_id="cus_b")
    bought = FULL_FUNNEL[:2] + FULL_FUNNEL[3:]
    w.session("v5", ts("2025-06-17T09:00:00"), bought, customer_id="cus_b", order_id="o-web5")
    # cus_a again, the evening before as_of: a cart still inside its 24-hour window
    w.session("v1", ts("2025-06-30T20:00:00"), ["Product Viewed", "Product Added"], customer_id="cus_a")
    w.bronze("orders", [
        _order("o-web1", "A", "2025-06-16T10:04:00"),
        _order("o-web5", "B", "2025-06-17T09:03:00"),
        _order("o-web2", "C", "2025-03-01T10:00:00"),  # serviced in a store (ticket t1)
        _order("o-web3", "D", "2025-02-01T10:00:00", status="returned", returned_store_id="S1"),
        _order("o-store1", "D", "2025-04-01T10:00:00", channel="store", status="paid", store_id="S1"),
        _order("o-web4", "E", "2025-05-01T10:00:00"),
        _order("o-late", "A", "2025-07-05T10:00:00"),  # after as_of
    ])  # fmt: skip
    w.bronze("pos_transactions", [{"transaction_id": "p-1", "store_id": "S1", "occurred_at": ts("2025-01-10T10:00:00"),
                                   "amount": Decimal("200000"), "currency": "VND"}])  # fmt: skip
    for customer, order_id in (("cus_a", "o-web1"), ("cus_b", "o-web5"), ("cus_c", "o-web2"), ("cus_d", "o-web3"),
                               ("cus_d", "o-store1"), ("cus_e", "o-web4"), ("cus_a", "o-late")):  # fmt: skip
        w.link(customer, "orders", order_id, AS_OF)
    w.link("cus_e", "pos_transactions", "p-1", AS_OF)
    w.bronze("support_tickets", [
        {"ticket_id": "t1", "channel": "store", "order_id": "o-web2", "contact_count": 1,
         "opened_at": ts("2025-06-16T09:00:00"), "first_response_at": ts("2025-06-16T09:03:00"),
         "resolved_at": ts("2025-06-16T10:00:00")},
        {"ticket_id": "t2", "channel": "chat", "contact_count": 2, "opened_at": ts("2025-06-17T09:00:00"),
         "first_response_at": ts("2025-06-17T09:05:00"), "resolved_at": ts("2025-06-18T09:00:00")},
        {"ticket_id": "t3", "channel": "chat", "contact_count": 1, "opened_at": ts("2025-06-18T09:00:00"),
         "first_response_at": ts("2025-06-18T09:15:00")},
    ])  # fmt: skip
    w.link("cus_c", "support_tickets", "t1", AS_OF)
    w.write_identity()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> JourneyLake:
    writer = JourneyLake(Lake(tmp_path_factory.mktemp("journeys") / "lake"))
    _seed(writer)
    build_marts(writer.lake, as_of=AS_OF, select=SELECT)
    return writer


def _funnel(lake: Lake) -> dict[tuple[str, str], list[int]]:
    """(week, channel) -> sessions per step, in step order."""
    funnel: dict[tuple[str, str], list[int]] = {}
    for row in _read(lake, layout.JOURNEY_FUNNEL, "week_start, channel, step_number"):
        funnel.setdefault((str(row["week_start"]), row["channel"]), []).append(row["sessions"])
    return funnel


def test_funnel_counts_sessions_that_reach_each_step_in_order(built):
    # the Order Completed with no view (v3) is no conversion; the app session stopped at checkout
    assert _funnel(built.lake) == {
        ("2025-06-16", "app"): [1, 1, 1, 0],
        ("2025-06-16", "web"): [3, 3, 2, 2],
        ("2025-06-30", "web"): [1, 1, 0, 0],
    }
    web = [r for r in _read(built.lake, layout.JOURNEY_FUNNEL, "step_number") if r["channel"] == "web"
           and str(r["week_start"]) == "2025-06-16"]  # fmt: skip
    assert [r["step"] for r in web] == ["view", "cart", "checkout", "purchase"]
    assert [r["drop_off_sessions"] for r in web] == [0, 0, 1, 0]
    assert web[2]["conversion_from_previous"] == pytest.approx(2 / 3)
    assert web[3]["conversion_from_top"] == pytest.approx(2 / 3)
    assert [r["visitors"] for r in web] == [3, 3, 2, 2]


def test_time_to_purchase_runs_from_first_view_to_purchase(built):
    rows = _read(built.lake, layout.JOURNEY_TIME_TO_PURCHASE, "week_start, channel")
    assert [(str(r["week_start"]), r["channel"], r["purchases"]) for r in rows] == [("2025-06-16", "web", 2)]
    assert rows[0]["median_minutes"] == pytest.approx(3.5)  # 4 minutes (v1) and 3 minutes (v5)
    assert rows[0]["p90_minutes"] == pytest.approx(3.9)


def test_cart_abandonment_follows_the_person_across_devices(built):
    rows = {(str(r["week_start"]), r["channel"]): r for r in _read(built.lake, layout.JOURNEY_CART_ABANDONMENT, "1")}
    # the app cart is saved by the same customer's web purchase 21 hours later
    assert rows[("2025-06-16", "app")]["abandoned_carts"] == 0
    assert rows[("2025-06-16", "app")]["purchased_carts"] == 1
    web = rows[("2025-06-16", "web")]
    assert (web["carts"], web["abandoned_carts"], web["purchased_carts"]) == (3, 1, 2)  # v2 abandoned
    assert web["abandonment_rate"] == pytest.approx(1 / 3)
    late = rows[("2025-06-30", "web")]
    assert (late["carts"], late["pending_carts"], late["abandonment_rate"]) == (1, 1, None)


def test_support_service_metrics_per_channel(built):
    rows = {r["channel"]: r for r in _read(built.lake, layout.SUPPORT_SERVICE_METRICS, "channel")}
    assert rows["chat"]["tickets"] == 2 and rows["chat"]["first_contact_resolutions"] == 0
    assert rows["chat"]["median_wait_minutes"] == pytest.approx(10.0)  # 5 and 15 minutes
    assert rows["store"]["first_contact_resolution_rate"] == 1.0
    assert rows["store"]["median_resolution_hours"] == pytest.approx(1.0)


def test_retention_cohorts_by_first_purchase_month(built):
    rows = _read(built.lake, layout.CUSTOMER_RETENTION_COHORTS, "cohort_month, months_since_first")
    cohorts = {(str(r["cohort_month"]), r["months_since_first"]): r for r in rows}
    # cus_e: POS in January, web in May; the returned online order of cus_d is no purchase (cohort April)
    assert [m for (c, m) in cohorts if c == "2025-01-01"] == list(range(7))  # up to as_of's month (July)
    assert cohorts[("2025-01-01", 4)]["active_customers"] == 1
    assert cohorts[("2025-01-01", 3)]["repeat_customers"] == 0
    assert cohorts[("2025-01-01", 4)]["repeat_purchase_rate"] == 1.0
    assert cohorts[("2025-04-01", 0)]["cohort_customers"] == 1
    june = cohorts[("2025-06-01", 0)]
    assert (june["cohort_customers"], june["purchases"], june["revenue"]) == (2, 2, Decimal("1000000.00"))
    assert ("2025-07-01", 0) not in cohorts  # o-late is after as_of


def test_cross_channel_journeys_per_customer_and_pattern(built):
    people = {r["customer_id"]: r for r in _read(built.lake, layout.CROSS_CHANNEL_JOURNEYS, "customer_id")}
    assert {c: p["journey_pattern"] for c, p in people.items()} == {
        "cus_a": "online_only",
        "cus_b": "online_only",
        "cus_c": "bought_online_serviced_in_store",
        "cus_d": "bought_online_returned_in_store",
        "cus_e": "store_then_online",
    }
    assert people["cus_d"]["is_online_then_store"] and people["cus_d"]["online_orders_returned_or_refunded"] == 1
    assert people["cus_c"]["store_tickets"] == 1
    patterns = {r["pattern"]: r["customers"] for r in _read(built.lake, layout.CROSS_CHANNEL_JOURNEY_PATTERNS, "1")}
    assert patterns["online_only"] == 3 and patterns["omnichannel"] == 2 and patterns["store_only"] == 0


def test_a_late_event_joins_its_session_on_the_next_build(built):
    # the app SDK flushes cus_b's Order Completed a day late: it belongs to the noon session of 16 June
    built.session("v4", ts("2025-06-16T12:03:00"), ["Order Completed"], channel="app", customer_id="cus_b",
                  order_id="o-app", ingested_at=AS_OF + timedelta(hours=12))  # fmt: skip
    built.write_identity()
    build_marts(built.lake, as_of=AS_OF + timedelta(days=1), select=SELECT)
    funnel = _funnel(built.lake)
    assert funnel[("2025-06-16", "app")] == [1, 1, 1, 1]
    assert funnel[("2025-06-16", "web")] == [3, 3, 2, 2]
    assert funnel[("2025-06-30", "web")] == [1, 1, 0, 0]
