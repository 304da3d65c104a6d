"""customer_clv scores each distinct (frequency, recency, T, monetary value) once and joins the predictions back to
the buyers who share it: every buyer's predictions must be exactly those of scoring every buyer on their own
(marts.clv.predict_clv over the purchase summaries), bit for bit, and no fit must still mean no predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from marts.clv import ClvFit, fit_table, predict_clv
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts

# Fader, Hardie & Lee (2005) and Fader, Hardie & Lee's Gamma-Gamma note, rounded: plausible, not fitted here
FIT = ClvFit(
    bg_nbd={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    gamma_gamma={"p": 6.25, "q": 3.74, "v": 15.44},
    bg_nbd_log_likelihood=-9582.4,
    gamma_gamma_log_likelihood=-4000.0,
    customers=6,
    bg_nbd_customers_in_fit=6,
    gamma_gamma_customers_in_fit=3,
)
PREDICTIONS = [
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_spend_per_purchase",
    "expected_value_365d",
]


def _buyers(writer: LakeWriter) -> None:
    """Buyers who share every input (c1, c2), who share all but the spend of their repeat purchase (c3, c4), and
    others."""
    histories = {
        "c1": [("2025-03-01", 100)],
        "c2": [("2025-03-01", 250)],  # a single occasion: spend does not enter the summary, same tuple as c1
        "c3": [("2025-01-10", 80), ("2025-04-10", 120)],
        "c4": [("2025-01-10", 80), ("2025-04-10", 150)],  # same frequency, recency and T as c3
        "c5": [("2025-02-01", 50), ("2025-03-15", 70), ("2025-06-01", 90)],
        "c6": [("2025-05-20", 30)],
    }
    orders = []
    for customer, history in histories.items():
        for n, (day, amount) in enumerate(history):
            order_id = f"o-{customer}-{n}"
            orders.append(
                {"order_id": order_id, "customer_ref": customer, "email": f"{customer}@mail.test", "channel": "web",
                 "ordered_at": ts(f"{day}T10:00:00"), "status": "delivered", "currency": "VND",
                 "total_amount": amount}
            )  # fmt: skip
            writer.link(f"cus_{customer}", "orders", order_id, ts(f"{day}T10:00:00"), AS_OF)
    writer.bronze("orders", orders)
    writer.write_identity()


def _stored_fit(lake: Lake) -> None:
    """A fit young enough for the build to re-use (no PyMC fit in the test)."""
    table = fit_table(FIT, time_unit_days=7.0, observation_end=AS_OF - timedelta(days=1), fitted_at=datetime.now(UTC))
    write_deltalake(lake.uri(layout.CLV_MODEL_FIT), table, mode="overwrite")


def _lake_clv(lake: Lake) -> pd.DataFrame:
    con = duckdb.connect()
    load_delta_extension(con)
    return con.execute(f"select * from delta_scan('{lake.uri(layout.CUSTOMER_CLV)}') order by customer_id").df()


def _each_buyer_scored(lake: Lake) -> tuple[pd.DataFrame, int]:
    con = duckdb.connect(str(lake.marts_dir() / "marts.duckdb"))
    try:
        summary = con.execute(
            "select customer_id, btyd_frequency as frequency, btyd_recency as recency, btyd_t as T, "
            "btyd_monetary_value::double as monetary_value from main.int_traits__purchases "
            "where customer_id is not null and purchase_count > 0 order by customer_id"
        ).df()
    finally:
        con.close()
    distinct = len(summary[["frequency", "recency", "T", "monetary_value"]].drop_duplicates())
    scored = predict_clv(
        summary, FIT.bg_nbd, FIT.gamma_gamma, time_unit_days=7.0, annual_discount_rate=0.10
    )  # dbt_project.yml's clv_annual_discount_rate
    return scored, distinct


def test_shared_inputs_are_scored_once_with_each_buyers_own_predictions(lake: Lake, lake_writer: LakeWriter) -> None:
    _buyers(lake_writer)
    _stored_fit(lake)
    build_marts(lake, as_of=AS_OF, select="+customer_clv +customers")

    built = _lake_clv(lake)
    expected, distinct = _each_buyer_scored(lake)
    assert distinct < len(expected) == 6  # buyers do share inputs here
    assert list(built.columns) == ["customer_id", *PREDICTIONS]
    assert built["customer_id"].tolist() == expected["customer_id"].tolist()
    for column in PREDICTIONS:
        # exact: the same closed forms on the same doubles
        assert built[column].tolist() == expected[column].tolist(), column
    assert built["expected_value_365d"].notna().all()


def test_no_fit_no_predictions(lake: Lake, lake_writer: LakeWriter) -> None:
    _buyers(lake_writer)  # fewer than ten buyers and no stored fit: clv_model_fit is empty
    build_marts(lake, as_of=AS_OF, select="+customer_clv +customers")

    built = _lake_clv(lake)
    assert built.empty
    assert list(built.columns) == ["customer_id", *PREDICTIONS]
