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


def _with_params(model, params: dict[str, float]):
    import arviz as az

    model.build_model()
    model.idata = az.from_dict(posterior={name: np.array([[value]]) for name, value in params.items()})
    return model


def predict_clv(
    summary: pd.DataFrame,
    bg_nbd: dict[str, float],
    gamma_gamma: dict[str, float] | None,
    *,
    time_unit_days: float,
    horizons_days: tuple[int, ...] = (90, 365),
    annual_discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases over each horizon, expected spend per purchase and the 365-day
    value (Gamma-Gamma spend times BG/NBD purchases, discounted monthly), all from fitted parameters."""
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    _quiet()
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    if summary.empty:
        for column in ("p_alive", *[f"expected_purchases_{h}d" for h in horizons_days]):
            out[column] = pd.Series(dtype="float64")
        out["expected_spend_per_purchase"] = pd.Series(dtype="float64")
        out["expected_value_365d"] = pd.Series(dtype="float64")
        return out
    data = summary[["customer_id", "frequency", "recency", "T"]]
    bg = _with_params(BetaGeoModel(data=data, model_config=_flat(BG_NBD_PARAMS)), bg_nbd)
    out["p_alive"] = bg.expected_probability_alive(data).values.ravel()
    for horizon in horizons_days:
        purchases = bg.expected_purchases(data, future_t=horizon / time_unit_days)
        out[f"expected_purchases_{horizon}d"] = purchases.values.ravel()
    out["expected_spend_per_purchase"] = np.nan
    out["expected_value_365d"] = np.nan
    if gamma_gamma is not None:
        spend = summary[["customer_id", "frequency", "monetary_value"]].assign(
            monetary_value=lambda d: d["monetary_value"].clip(lower=0)
        )
        gg = _with_params(GammaGammaModel(data=spend, model_config=_flat(GAMMA_GAMMA_PARAMS)), gamma_gamma)
        out["expected_spend_per_purchase"] = gg.expected_customer_spend(spend).values.ravel()
        unit = {1: "D", 7: "W"}.get(int(time_unit_days), "D")
        value = gg.expected_customer_lifetime_value(
            transaction_model=bg,
            data=summary[["customer_id", "frequency", "recency", "T", "monetary_value"]].assign(
                monetary_value=lambda d: d["monetary_value"].clip(lower=0)
            ),
            future_t=12,
            discount_rate=(1 + annual_discount_rate) ** (1 / 12) - 1,
            time_unit=unit,
        )
        out["expected_value_365d"] = value.values.ravel()
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
