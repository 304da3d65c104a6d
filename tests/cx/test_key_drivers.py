"""Key-driver analysis (cx/key_drivers.py) on simulated scores with known coefficients.

The simulation has the generator's shape: a latent score linear in three drivers plus normal noise, rounded and
clipped to the scale, next to drivers with no effect of their own: the contact count (nearly the same as not_fcr),
the price (independent) and the ticket channel (whose waits differ, so it predicts the score through the wait).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from cx.key_drivers import (
    DRIVERS,
    RESULT_COLUMNS,
    AnalysisSettings,
    analyse_drivers,
    build_driver_matrix,
    design_matrix,
    fit_latent,
    key_drivers,
    lmg_shares,
    ols_subset_r2,
    pmvd_shares,
)

PLANTED = {"delay_days": -0.8, "not_fcr": -1.5, "wait_minutes": -0.05}
CHANNEL_WAIT = {"chat": 4.0, "bot": 1.0, "phone": 7.0, "email": 45.0, "store": 3.0}


def simulate(n: int, seed: int = 1, *, noise: float = 1.0, base: float = 9.0, scale=(0, 10)) -> pd.DataFrame:
    """A driver matrix as build_driver_matrix returns it, scored by the planted model."""
    rng = np.random.default_rng(seed)
    has_ticket = rng.random(n) < 0.5
    channel = np.where(has_ticket, rng.choice(list(CHANNEL_WAIT), n), "none")
    median = np.array([CHANNEL_WAIT.get(c, 0.0) for c in channel])
    wait = np.where(has_ticket, np.minimum(120.0, median * np.exp(0.6 * rng.standard_normal(n))), 0.0)
    late = rng.random(n) < 0.4
    delay = np.where(late, np.minimum(14.0, rng.exponential(2.0, n)), 0.0)
    contacts = np.where(has_ticket, np.where(rng.random(n) < 0.6, 1, 2 + rng.poisson(1.0, n)), 0)
    not_fcr = (contacts > 1).astype(float)
    price = rng.lognormal(13, 1, n)
    latent = (
        base
        + PLANTED["delay_days"] * delay
        + PLANTED["not_fcr"] * not_fcr
        + PLANTED["wait_minutes"] * wait
        + noise * rng.standard_normal(n)
    )
    score = np.clip(np.floor(latent + 0.5), *scale)
    return pd.DataFrame({"response_id": [f"r{i}" for i in range(n)], "survey_type": "NPS", "score": score,
                         "delay_days": delay, "not_fcr": not_fcr, "wait_minutes": wait,
                         "contact_count": contacts.astype(float), "price_paid": price, "ticket_channel": channel,
                         "excluded": None})  # fmt: skip


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate(3_000)


@pytest.fixture(scope="module")
def result(simulated) -> pd.DataFrame:
    table = analyse_drivers(simulated, "NPS", AnalysisSettings(replicates=100, seed=3))
    return table.set_index("driver")


def test_subset_r2_matches_a_library_fit_and_both_decompositions_sum_to_it(simulated):
    raw, groups = design_matrix(simulated)
    x = raw / raw.std(axis=0)  # prices in the 1e5-1e6 range next to 0/1 flags cost sklearn's solver 2 points of R²
    y = simulated["score"].to_numpy(float)
    r2 = ols_subset_r2(raw, y, groups)
    assert r2[-1] == pytest.approx(LinearRegression().fit(x, y).score(x, y), abs=1e-9)
    only_wait = x[:, groups[2]]
    assert r2[1 << 2] == pytest.approx(LinearRegression().fit(only_wait, y).score(only_wait, y), abs=1e-9)
    assert lmg_shares(r2, len(groups)).sum() == pytest.approx(r2[-1], abs=1e-9)
    assert pmvd_shares(r2, len(groups)).sum() == pytest.approx(r2[-1], abs=1e-9)


def test_shares_in_the_table_sum_to_its_r_squared(result):
    r2 = result["r_squared"].iloc[0]
    assert 0.5 < r2 < 1
    assert result["importance"].sum() == pytest.approx(r2, abs=1e-9)
    assert result["importance_lmg"].sum() == pytest.approx(r2, abs=1e-9)


def test_the_planted_drivers_come_first_in_the_order_of_their_variance(simulated, result):
    expected = sorted(PLANTED, key=lambda d: -(PLANTED[d] ** 2) * simulated[d].var())
    ranked = result.sort_values("importance_rank").index.tolist()
    assert ranked[:3] == expected
    assert result.loc[expected, "importance_rank"].tolist() == [1, 2, 3]


def test_planted_slopes_are_recovered_with_intervals_that_cover_them(result):
    for driver, planted in PLANTED.items():
        row = result.loc[driver]
        assert row["coefficient_sign"] == "-", driver
        assert row["coefficient_ci_low"] <= planted <= row["coefficient_ci_high"], driver
        assert row["coefficient"] == pytest.approx(planted, rel=0.15), driver
        # OLS on the clipped score shrinks the slope towards 0: the reason for the latent model
        assert abs(row["ols_coefficient"]) < abs(row["coefficient"]), driver


def test_drivers_without_an_effect_get_a_share_near_zero_and_a_slope_interval_covering_zero(result):
    for driver in ("contact_count", "price_paid", "ticket_channel"):
        assert result.loc[driver, "importance"] < 0.01, driver
        assert result.loc[driver, "ci_low"] >= 0
    for driver in ("contact_count", "price_paid"):
        row = result.loc[driver]
        assert row["coefficient_ci_low"] <= 0 <= row["coefficient_ci_high"], driver
        assert row["coefficient_sign"] == "0"
    # the channel is a group: one row, no single slope
    assert pd.isna(result.loc["ticket_channel", "coefficient"])


def test_lmg_credits_a_proxy_that_pmvd_does_not(result):
    """The channel predicts the wait, so it explains variance together with it: LMG shares that variance out,
    PMVD gives it to the driver that has the effect."""
    channel = result.loc["ticket_channel"]
    assert channel["importance_lmg"] > 5 * channel["importance"]
    assert channel["importance_lmg"] > 0.02


def test_intervals_are_seeded_and_contain_the_estimate(simulated, result):
    again = analyse_drivers(simulated, "NPS", AnalysisSettings(replicates=100, seed=3)).set_index("driver")
    pd.testing.assert_frame_equal(again, result)
    ok = result[result["importance"] > 0.01]
    assert ((ok["ci_low"] <= ok["importance"]) & (ok["importance"] <= ok["ci_high"])).all()


def test_latent_fit_undoes_heavy_clipping():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (4_000, 1))
    latent = 4.5 + 1.2 * x[:, 0] + 0.5 * rng.standard_normal(4_000)
    y = np.clip(np.floor(latent + 0.5), 1, 5)  # a third of the answers sit at 5
    assert (y == 5).mean() > 0.3
    fit, _ = fit_latent(x, y, (1, 5))
    assert fit.slopes[0] == pytest.approx(1.2, rel=0.05)
    assert fit.sigma == pytest.approx(0.5, rel=0.1)
    ols = np.polyfit(x[:, 0], y, 1)[0]
    assert ols < 1.0  # what the clipping does to OLS


def test_too_few_responses_give_a_clear_row_per_driver_not_an_error(simulated):
    table = key_drivers(simulated.head(20), AnalysisSettings(min_responses=50, replicates=10))
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert len(table) == 3 * len(DRIVERS)  # NPS, CSAT and CES: every survey type has its rows
    assert set(table["status"]) == {"insufficient_responses"}
    assert table.loc[table["survey_type"] == "NPS", "responses"].eq(20).all()
    assert table.loc[table["survey_type"] == "CES", "responses"].eq(0).all()
    assert table["importance"].isna().all()


def test_a_constant_driver_is_reported_not_fitted(simulated):
    data = simulated.assign(price_paid=1000.0)
    table = analyse_drivers(data, "NPS", AnalysisSettings(replicates=20)).set_index("driver")
    assert table.loc["price_paid", "status"] == "constant_driver"
    assert table.loc["price_paid", "importance"] == 0
    assert pd.isna(table.loc["price_paid", "coefficient"])
    assert table.loc["delay_days", "status"] == "ok" and table.loc["delay_days", "importance_rank"] == 1


def test_identical_scores_are_no_score_variance(simulated):
    table = analyse_drivers(simulated.assign(score=10.0), "NPS", AnalysisSettings(replicates=5))
    assert set(table["status"]) == {"no_score_variance"}


def test_the_driver_matrix_from_responses_orders_and_tickets():
    responses = pd.DataFrame(
        [
            # response, type, score, order, ticket
            ("r1", "NPS", "3", "o1", "t1"),  # late order, ticket with a second contact
            ("r2", "NPS", "9", "o2", None),  # on time, no ticket
            ("r3", "CSAT", "5", None, None),  # store visit: nothing to link
            ("r4", "NPS", "7", "o-missing", None),  # order not in the lake: its delay is unknown
            ("r5", "NPS", "7", None, "t-open"),  # ticket never answered: wait unknown
            ("r6", "NPS", "x", None, None),  # not a number
            ("r7", "CSAT", "9", None, None),  # outside 1-5
            ("r8", "NPS", "8", "o3", ""),  # not delivered yet; empty ticket id = none
        ],
        columns=["response_id", "survey_type", "score", "order_id", "ticket_id"],
    )
    orders = pd.DataFrame(
        [
            ("o1", "2025-03-01T13:00:00Z", "2025-03-03T13:00:00Z", 500_000.0),
            ("o2", "2025-03-01T13:00:00Z", "2025-03-01T08:00:00+07:00", 200_000.0),
            ("o3", "2025-03-01T13:00:00Z", None, 100_000.0),
        ],
        columns=["order_id", "promised_delivery_at", "delivered_at", "amount_reporting"],
    )
    tickets = pd.DataFrame(
        [
            ("t1", "2025-03-04T10:00:00Z", "2025-03-04T10:30:00Z", 3, "Email"),
            ("t-open", "2025-03-04T10:00:00Z", None, 1, "chat"),
        ],
        columns=["ticket_id", "opened_at", "first_response_at", "contact_count", "channel"],
    )
    m = build_driver_matrix(responses, orders, tickets).set_index("response_id")

    assert m.loc["r1", ["delay_days", "not_fcr", "wait_minutes", "contact_count", "price_paid"]].tolist() == [
        2.0, 1.0, 30.0, 3.0, 500_000.0]  # fmt: skip
    assert m.loc["r1", "ticket_channel"] == "email"
    assert m.loc["r2", ["delay_days", "not_fcr", "wait_minutes", "contact_count"]].tolist() == [0, 0, 0, 0]
    assert m.loc["r2", "ticket_channel"] == "none"
    assert pd.isna(m.loc["r3", "price_paid"])  # no order: imputed when the design matrix is built
    assert m.loc["r8", "delay_days"] == 0 and m.loc["r8", "ticket_channel"] == "none"
    assert m["excluded"].to_dict() == {
        "r1": None, "r2": None, "r3": None, "r4": "order not in the lake",
        "r5": "ticket without opened_at/first_response_at", "r6": "score not numeric",
        "r7": "score outside the survey's scale or unknown survey type", "r8": None}  # fmt: skip

    x, groups = design_matrix(m.loc[["r1", "r2", "r3"]].reset_index())
    assert x[2, groups[4][0]] == pytest.approx(350_000.0)  # the mean of the two known prices


def test_a_missing_input_column_is_named():
    with pytest.raises(ValueError, match=r"tickets input lacks column.*channel"):
        build_driver_matrix(
            pd.DataFrame(columns=["response_id", "survey_type", "score", "order_id", "ticket_id"]),
            pd.DataFrame(columns=["order_id", "promised_delivery_at", "delivered_at", "amount_reporting"]),
            pd.DataFrame(columns=["ticket_id", "opened_at", "first_response_at", "contact_count"]),
        )
