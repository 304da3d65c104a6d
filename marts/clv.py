"""Customer lifetime value: BG/NBD for purchase counts and P(alive), Gamma-Gamma for spend, fitted by PyMC-Marketing.

Both models are fitted by maximum likelihood (MAP with flat priors), which reproduces Fader, Hardie & Lee (2005) on
the CDNOW sample (tests/marts/test_clv.py). The fit is one row per model for ``gold/clv_model_fit``; predictions are
made from those parameters, so a build can predict with a fit it did not make.

Input is one row per customer in the BTYD summary form, in ``time_unit_days`` units: ``frequency`` (repeat
purchase periods), ``recency`` (first to last purchase), ``T`` (first purchase to the observation end) and
``monetary_value`` (mean value of the repeat purchases).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

BG_NBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
FIT_COLUMNS = [
    "model",
    "parameters",
    "time_unit_days",
    "observation_end",
    "customers",
    "customers_in_fit",
    "log_likelihood",
    "fitted_at",
]


@dataclass(frozen=True)
class ClvFit:
    bg_nbd: dict[str, float]
    gamma_gamma: dict[str, float] | None  # None when too few repeat buyers with positive spend
    bg_nbd_log_likelihood: float
    gamma_gamma_log_likelihood: float | None
    customers: int
    bg_nbd_customers_in_fit: int
    gamma_gamma_customers_in_fit: int


def _quiet() -> None:
    # PyMC logs sampler chatter and progress bars on every fit; the build shows its own progress.
    for name in ("pymc", "pytensor", "pymc_marketing", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(pymc|pytensor|arviz|pymc_marketing).*")


def _flat(names: tuple[str, ...]) -> dict:
    """Flat priors: the MAP fit is then the maximum-likelihood fit of the papers."""
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _point(model: Any, names: tuple[str, ...]) -> dict[str, float]:
    """The fitted (MAP) value of each parameter: a posterior of one chain and one draw."""
    return {name: float(model.idata.posterior[name].values.ravel()[0]) for name in names}


def _log_likelihood(model: Any) -> float:
    """The data's log-likelihood at the fitted point (flat priors add nothing; no Jacobian of the log transform)."""
    values = {}
    for rv in model.model.free_RVs:
        value_var = model.model.rvs_to_values[rv]
        fitted = float(model.idata.posterior[rv.name].values.ravel()[0])
        values[value_var.name] = np.log(fitted) if value_var.name.endswith("_log__") else fitted
    return float(model.model.compile_logp(jacobian=False)(values))


def fit_clv(summary: pd.DataFrame, *, max_customers: int = 200_000, seed: int = 42) -> ClvFit:
    """Fit BG/NBD on every customer (or a seeded sample of ``max_customers``) and Gamma-Gamma on repeat buyers."""
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    _quiet()
    customers = len(summary)
    if customers < 10:
        raise ValueError(f"CLV needs at least 10 customers with a purchase to fit; got {customers}")
    # In a fixed order: the query's row order varies from run to run, and both the seeded sample and the optimiser's
    # path (on small or flat data the MAP fit can run off to a degenerate point) must not depend on it.
    summary = summary.sort_values("customer_id", kind="stable", ignore_index=True)
    sample = summary.sample(max_customers, random_state=seed) if customers > max_customers else summary
    bg = BetaGeoModel(data=sample[["customer_id", "frequency", "recency", "T"]], model_config=_flat(BG_NBD_PARAMS))
    bg.fit(method="map", progressbar=False)
    bg_params = _point(bg, BG_NBD_PARAMS)

    repeat = sample[(sample["frequency"] > 0) & (sample["monetary_value"] > 0)]
    gg_params, gg_ll = None, None
    if len(repeat) >= 10:
        gg = GammaGammaModel(
            data=repeat[["customer_id", "frequency", "monetary_value"]], model_config=_flat(GAMMA_GAMMA_PARAMS)
        )
        gg.fit(method="map", progressbar=False)
        gg_params = _point(gg, GAMMA_GAMMA_PARAMS)
        gg_ll = _log_likelihood(gg)
    return ClvFit(
        bg_nbd=bg_params,
        gamma_gamma=gg_params,
        bg_nbd_log_likelihood=_log_likelihood(bg),
        gamma_gamma_log_likelihood=gg_ll,
        customers=customers,
        bg_nbd_customers_in_fit=len(sample),
        gamma_gamma_customers_in_fit=len(repeat),
    )


def fit_table(fit: ClvFit, *, time_unit_days: float, observation_end: datetime, fitted_at: datetime) -> pd.DataFrame:
    """The fit as rows for ``gold/clv_model_fit``: one per model, parameters as JSON text."""
    import json

    rows = [
        ("bg_nbd", fit.bg_nbd, fit.bg_nbd_customers_in_fit, fit.bg_nbd_log_likelihood),
        ("gamma_gamma", fit.gamma_gamma, fit.gamma_gamma_customers_in_fit, fit.gamma_gamma_log_likelihood),
    ]
    return pd.DataFrame(
        [
            (
                model,
                json.dumps(params, sort_keys=True),
                time_unit_days,
                observation_end,
                fit.customers,
                n,
                ll,
                fitted_at,
            )
            for model, params, n, ll in rows
            if params is not None
        ],
        columns=FIT_COLUMNS,
    )


def _bg_nbd_purchases(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """BG/NBD expected purchases in the next ``t`` periods (Fader, Hardie & Lee 2005, eq. 10)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    numerator = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + T + t)
    )
    numerator *= (a + b + x - 1) / (a - 1)
    denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return numerator / denominator


def predict_clv(
    summary: pd.DataFrame,
    bg_nbd: dict[str, float],
    gamma_gamma: dict[str, float] | None,
    *,
    time_unit_days: float,
    horizons_days: tuple[int, ...] = (90, 365),
    annual_discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases over each horizon, expected spend per purchase and the 12-month
    value (Gamma-Gamma spend times BG/NBD purchases month by month, discounted monthly), from fitted parameters.

    The closed forms are PyMC-Marketing's own (``BetaGeoModel.expected_probability_alive``/``expected_purchases``,
    ``GammaGammaModel.expected_customer_spend``, ``customer_lifetime_value``) in NumPy: importing PyMC costs 7-17 s
    per build, more than scoring a million customers. ``tests/marts/test_clv.py`` holds them equal to the library.
    """
    from scipy.special import expit

    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    x = summary["frequency"].to_numpy(dtype="float64")
    t_x = summary["recency"].to_numpy(dtype="float64")
    T = summary["T"].to_numpy(dtype="float64")
    if summary.empty or not bg_nbd:
        for column in ("p_alive", *[f"expected_purchases_{h}d" for h in horizons_days]):
            out[column] = np.full(len(out), np.nan)
        out["expected_spend_per_purchase"] = np.full(len(out), np.nan)
        out["expected_value_365d"] = np.full(len(out), np.nan)
        return out
    r, alpha, a, b = bg_nbd["r"], bg_nbd["alpha"], bg_nbd["a"], bg_nbd["b"]
    log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    out["p_alive"] = np.where(x == 0, 1.0, expit(-log_div))
    for horizon in horizons_days:
        out[f"expected_purchases_{horizon}d"] = _bg_nbd_purchases(bg_nbd, x, t_x, T, horizon / time_unit_days)
    out["expected_spend_per_purchase"] = np.nan
    out["expected_value_365d"] = np.nan
    if gamma_gamma is not None:
        p, q, v = gamma_gamma["p"], gamma_gamma["q"], gamma_gamma["v"]
        mean_value = summary["monetary_value"].to_numpy(dtype="float64").clip(min=0)
        weight = p * x / (p * x + q - 1)
        spend = (1 - weight) * (v * p / (q - 1)) + weight * mean_value
        out["expected_spend_per_purchase"] = spend
        # 12 monthly steps, with customer_lifetime_value's months: 4.345 weeks or 30 days
        periods_per_month = {7.0: 4.345, 1.0: 30.0}.get(float(time_unit_days), 30 / time_unit_days)
        monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
        value, previous = np.zeros(len(out)), np.zeros(len(out))
        for month in range(1, 13):
            cumulative = _bg_nbd_purchases(bg_nbd, x, t_x, T, month * periods_per_month)
            value += spend * (cumulative - previous) / (1 + monthly_rate) ** month
            previous = cumulative
        out["expected_value_365d"] = value
    return out


def reusable_fit(path: str, *, as_of: datetime, max_age: timedelta, time_unit_days: float) -> pd.DataFrame | None:
    """The fit stored at ``path`` when it is recent enough to re-use for ``as_of`` (same time unit, fitted on data
    up to at most ``max_age`` before ``as_of``, never after it), else None."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        stored = DeltaTable(path).to_pandas()
    except TableNotFoundError:
        return None
    if stored.empty or set(stored["model"]) != {"bg_nbd", "gamma_gamma"}:
        return None
    ends = pd.to_datetime(stored["observation_end"], utc=True)
    fresh = (ends <= as_of) & (ends > as_of - max_age) & (stored["time_unit_days"] == time_unit_days)
    return stored[FIT_COLUMNS] if bool(fresh.all()) else None
