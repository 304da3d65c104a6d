"""CLV with PyMC-Marketing reproduces the published BG/NBD and Gamma-Gamma results on the CDNOW sample.

Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2): BG/NBD on the CDNOW
sample's 39-week calibration period (2,357 customers) gives r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 and a
log-likelihood of -9582.4. Fader, Hardie & Lee (2005), "RFM and CLV", JMR 42(4), Gamma-Gamma on the same
customers' repeat spend: p = 6.25, q = 3.74, v = 15.44. The data set ships with `lifetimes` (tests/data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marts.clv import fit_clv, predict_clv

DATA = Path(__file__).parent.parent / "data" / "cdnow_customers_summary_with_transactions.csv"
BG_NBD_PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA_PAPER = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA).rename(
        columns={"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )


@pytest.fixture(scope="module")
def fit(cdnow):
    return fit_clv(cdnow)


def test_bg_nbd_reproduces_the_paper_within_two_percent(fit):
    for name, published in BG_NBD_PAPER.items():
        assert fit.bg_nbd[name] == pytest.approx(published, rel=0.02), name
    assert fit.bg_nbd_log_likelihood == pytest.approx(-9582.4, abs=1.0)
    assert fit.bg_nbd_customers_in_fit == 2357


def test_gamma_gamma_reproduces_the_paper_within_two_percent(fit):
    assert fit.gamma_gamma is not None
    for name, published in GAMMA_GAMMA_PAPER.items():
        assert fit.gamma_gamma[name] == pytest.approx(published, rel=0.02), name
    assert fit.gamma_gamma_customers_in_fit == 946  # the repeat buyers


def test_predictions_are_probabilities_and_grow_with_the_horizon(cdnow, fit):
    predicted = predict_clv(cdnow, fit.bg_nbd, fit.gamma_gamma, time_unit_days=7)

    assert len(predicted) == len(cdnow)
    assert predicted["p_alive"].between(0, 1).all()
    assert (predicted["expected_purchases_365d"] >= predicted["expected_purchases_90d"]).all()
    assert (predicted["expected_value_365d"] >= 0).all()
    # a frequent, recent buyer is more likely alive than one who bought often but long ago
    recent = predicted.loc[cdnow["customer_id"] == 1, "p_alive"].item()  # 2 repeats, recency 30.4 of 38.9 weeks
    lapsed = predicted.loc[(cdnow["frequency"] >= 2) & (cdnow["recency"] < 5), "p_alive"].max()
    assert recent > lapsed


def test_too_few_buyers_is_a_clear_error(cdnow):
    with pytest.raises(ValueError, match="at least 10 customers"):
        fit_clv(cdnow.head(3))


def test_numpy_scoring_equals_pymc_marketing(cdnow, fit):
    """predict_clv mirrors the library's closed forms without importing PyMC; it must give the library's numbers."""
    import arviz as az
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    data = cdnow[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    bg = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
    bg.build_model()
    bg.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in fit.bg_nbd.items()})
    gg = GammaGammaModel(data=data[["customer_id", "frequency", "monetary_value"]])
    gg.build_model()
    gg.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in fit.gamma_gamma.items()})
    ours = predict_clv(data, fit.bg_nbd, fit.gamma_gamma, time_unit_days=7, annual_discount_rate=0.1)

    np.testing.assert_allclose(ours["p_alive"], bg.expected_probability_alive(data).values.ravel(), rtol=1e-9)
    purchases = bg.expected_purchases(data, future_t=90 / 7).values.ravel()
    np.testing.assert_allclose(ours["expected_purchases_90d"], purchases, rtol=1e-9)
    spend = gg.expected_customer_spend(data).values.ravel()
    np.testing.assert_allclose(ours["expected_spend_per_purchase"], spend, rtol=1e-9)
    value = gg.expected_customer_lifetime_value(
        transaction_model=bg, data=data, future_t=12, discount_rate=1.1 ** (1 / 12) - 1, time_unit="W"
    )
    np.testing.assert_allclose(ours["expected_value_365d"], value.values.ravel(), rtol=1e-9)
