"""The key drivers recovered from generated data match the effects the generator planted (planted.json).

Path: the project's generator writes a landing zone (6,000 customers); the test writes its orders, tickets and
survey responses into the bronze tables (typed by the landing contract's schema; rows whose ids, timestamps, amounts
or scores do not parse are left out, as the ingest quarantines them), and the real dbt build of `+cx_key_drivers`
(staging, int_orders__unioned, the Python estimate, the contracted mart as Delta) computes the table, which is read
back from gold. Ingest and identity resolution (Spark) are skipped: the model reads no identity, and the pipeline
costs minutes on two shared cores; tests/test_end_to_end.py runs the whole chain.

Tolerances, and why:
* Order: the planted drivers are ranks 1-3 in the order of b²·var(x) (b from planted.json, var(x) over the responses
  used), for NPS and CSAT.
* Slopes: the interval regression is the generator's own model (latent linear score, rounded, clipped), so its slopes
  are unbiased: each planted value must lie in the 95 % bootstrap interval widened by 10 % of the planted value on
  each side (twelve intervals at 95 % would miss one by chance about half the time). OLS on the clipped score, shown
  for comparison, is shrunk far more than that (a planted -0.05 per wait minute comes out near -0.02).
* Drivers without a planted effect (contact count, price, channel): share of R² below 0.02 each, against at least
  0.05 for every planted driver; the contact count and channel are correlated with planted drivers, so LMG gives them
  shares near 0.1, which PMVD does not.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cdp import lake as layout
from cdp.lake import Lake
from cx.key_driver_landing import load_landing_inputs
from cx.key_drivers import build_driver_matrix
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from synthetic_data import generate
from synthetic_data.generate import generated_period_end
from synthetic_data.schema import TRUTH_DIR
from tests.marts.conftest import LakeWriter

CUSTOMERS = 6_000
PLANTED_DRIVERS = ("delay_days", "not_fcr", "wait_minutes")
UNPLANTED_DRIVERS = ("contact_count", "price_paid", "ticket_channel")
UNPLANTED_SHARE_BOUND = 0.02
SLOPE_MARGIN = 0.10  # of the planted value, beyond either end of the 95 % interval


def _time(value) -> datetime | None:
    parsed = pd.to_datetime(value, utc=True, errors="coerce", format="ISO8601")
    return None if pd.isna(parsed) else parsed.to_pydatetime()


def _int(value) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def _bronze_rows(landing: Path) -> dict[str, list[dict]]:
    """The three sources as the ingest would load them: typed, and without the rows it would quarantine."""
    responses, orders, tickets = load_landing_inputs(landing)
    out: dict[str, list[dict]] = {"survey_responses": [], "orders": [], "support_tickets": []}
    for r in responses.to_dict("records"):
        row = {
            "response_id": r["response_id"],
            "survey_type": r["survey_type"],
            "score": _int(r["score"]),
            "responded_at": _time(r["responded_at"]),
            "order_id": r["order_id"],
            "ticket_id": r["ticket_id"],
        }
        if row["response_id"] and row["score"] is not None and row["responded_at"] is not None:
            out["survey_responses"].append(row)
    for o in orders.to_dict("records"):
        row = {
            "order_id": o["order_id"],
            "channel": o["channel"],
            "ordered_at": _time(o["ordered_at"]),
            "status": o["status"],
            "currency": o["currency"],
            "total_amount": _decimal(o["total_amount"]),
            "promised_delivery_at": _time(o["promised_delivery_at"]),
            "delivered_at": _time(o["delivered_at"]),
        }
        if row["ordered_at"] is not None and row["total_amount"] is not None:
            out["orders"].append(row)
    for t in tickets.to_dict("records"):
        count = t["contact_count"]
        row = {
            "ticket_id": t["ticket_id"],
            "channel": t["channel"],
            "opened_at": _time(t["opened_at"]),
            "first_response_at": _time(t["first_response_at"]),
            "resolved_at": _time(t["resolved_at"]),
            "contact_count": None if pd.isna(count) else int(count),
        }
        if row["opened_at"] is not None and row["contact_count"] is not None:
            out["support_tickets"].append(row)
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    landing = tmp_path_factory.mktemp("landing")
    generate(landing, CUSTOMERS, seed=11, workers=1)
    end = generated_period_end(landing)
    assert end is not None
    as_of = end - timedelta(days=30)  # the last month's answers must be left out
    lake = Lake(tmp_path_factory.mktemp("lake") / "lake")
    writer = LakeWriter(lake)
    bronze = _bronze_rows(landing)
    for source, rows in bronze.items():
        writer.bronze(source, rows)
    writer.write_identity()
    build_marts(lake, as_of=as_of, select="+cx_key_drivers")

    con = duckdb.connect()
    load_delta_extension(con)
    table = con.execute(f"select * from delta_scan('{lake.uri(layout.CX_KEY_DRIVERS)}')").df()
    planted = json.loads((landing / TRUTH_DIR / "planted.json").read_text(encoding="utf-8"))["survey_drivers"]
    # the drivers as the model sees them (from the bronze rows), for the expected order and counts; prices are left
    # in their own currency, which no assertion reads
    orders = pd.DataFrame(bronze["orders"]).assign(amount_reporting=lambda o: o["total_amount"].astype(float))
    matrix = build_driver_matrix(
        pd.DataFrame(bronze["survey_responses"]), orders, pd.DataFrame(bronze["support_tickets"])
    )
    return {"table": table.set_index(["survey_type", "driver"]), "planted": planted["models"], "as_of": as_of,
            "bronze": bronze, "matrix": matrix}  # fmt: skip


def _used_rows(generated: dict, survey_type: str) -> pd.DataFrame:
    """The responses the model could use: of this type, up to as_of, with known drivers."""
    kept = {
        r["response_id"] for r in generated["bronze"]["survey_responses"] if r["responded_at"] <= generated["as_of"]
    }
    m = generated["matrix"]
    return m[(m["survey_type"] == survey_type) & m["response_id"].isin(kept) & m["excluded"].isna()]


@pytest.mark.parametrize("survey_type", ["NPS", "CSAT"])
def test_planted_drivers_rank_first_in_the_order_of_their_planted_variance(generated, survey_type):
    table, model = generated["table"].loc[survey_type], generated["planted"][survey_type]
    used = _used_rows(generated, survey_type)
    expected = sorted(PLANTED_DRIVERS, key=lambda d: -(model[d] ** 2) * used[d].var())
    assert (table["status"] == "ok").all()
    assert table.sort_values("importance_rank").index[:3].tolist() == expected
    assert table.loc[list(PLANTED_DRIVERS), "importance"].min() >= 0.05


@pytest.mark.parametrize("survey_type", ["NPS", "CSAT"])
def test_planted_slopes_have_their_sign_and_intervals_at_the_planted_value(generated, survey_type):
    table, model = generated["table"].loc[survey_type], generated["planted"][survey_type]
    for driver in PLANTED_DRIVERS:
        row, planted = table.loc[driver], model[driver]
        assert row["coefficient_sign"] == "-", driver
        margin = SLOPE_MARGIN * abs(planted)
        assert row["coefficient_ci_low"] - margin <= planted <= row["coefficient_ci_high"] + margin, (driver, row)


@pytest.mark.parametrize("survey_type", ["NPS", "CSAT"])
def test_drivers_without_a_planted_effect_get_small_shares(generated, survey_type):
    table = generated["table"].loc[survey_type]
    for driver in UNPLANTED_DRIVERS:
        assert table.loc[driver, "importance"] < UNPLANTED_SHARE_BOUND, driver
    for driver in ("contact_count", "price_paid"):
        row = table.loc[driver]
        assert row["coefficient_ci_low"] <= 0 <= row["coefficient_ci_high"], driver
    assert table["importance"].sum() == pytest.approx(table["r_squared"].iloc[0], abs=1e-6)


def test_only_responses_up_to_as_of_are_counted(generated):
    table = generated["table"]
    for survey_type in ("NPS", "CSAT", "CES"):
        rows = [r for r in generated["bronze"]["survey_responses"] if r["survey_type"] == survey_type]
        before = [r for r in rows if r["responded_at"] <= generated["as_of"]]
        counted = table.loc[(survey_type, "delay_days")]
        assert counted["responses"] == len(_used_rows(generated, survey_type))
        assert counted["responses"] + counted["responses_excluded"] == len(before) < len(rows)
    assert (table["computed_for_as_of"] == pd.Timestamp(generated["as_of"])).all()


def test_ces_checkout_answers_have_no_ticket_drivers(generated):
    """The generator links CES answers to orders only: the ticket drivers are constant and reported as such."""
    ces = generated["table"].loc["CES"]
    assert ces.loc[["not_fcr", "wait_minutes", "contact_count", "ticket_channel"], "status"].eq("constant_driver").all()
    assert ces.loc["delay_days", "importance_rank"] == 1
    assert ces.loc["delay_days", "coefficient_sign"] == "-"
