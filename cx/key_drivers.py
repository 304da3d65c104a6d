"""Key-driver analysis: how much of the variance in NPS, CSAT and CES each operational driver explains.

The drivers are rebuilt for each survey response from its order and its support ticket (:func:`build_driver_matrix`).
Then, per survey type (:func:`analyse_drivers`):

1. The score is modelled as a rounded, clipped latent score: score* = a + x·b + N(0, σ²), fitted by maximum
   likelihood as an interval regression (:func:`fit_latent`). OLS on the clipped score understates every slope
   (on generated NPS data a planted -0.05 per wait minute came out as -0.02); the latent slopes do not.
2. The R² of the latent score is decomposed over the drivers, each categorical driver (the ticket channel) being one
   player made of its indicator columns, as relaimpo's ``groups``. ``importance`` is PMVD (Feldman 2005), a
   Shapley-type value whose order weights give a driver with no effect of its own a share near 0 even when it is
   correlated with one that has (the channel, whose waits differ); ``importance_lmg`` is the plain Shapley value (LMG:
   Lindeman, Merenda & Gold 1980), which shares jointly explained variance evenly between correlated drivers. Both
   sum to R² (Grömping 2007, "Estimators of relative importance in linear regression based on variance
   decomposition", The American Statistician 61(2), compares them).
3. Intervals are percentile bootstrap intervals over responses (pairs bootstrap, seeded, ``replicates``), for shares
   and slopes alike.

Why hand-written: the maintained Python packages (pingouin's ``relimp``, dominance-analysis) compute LMG of OLS only:
no grouped players, no PMVD, no censored scores, no bootstrap. Exact decompositions over six players are 64 subset
R² values from one covariance matrix and 720 orders, a few lines of numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import permutations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

SCALES = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}  # the survey contract's score ranges
SURVEY_TYPES = tuple(SCALES)
TICKET_CHANNELS = ("chat", "bot", "phone", "email", "store")  # the support contract's channels
METHOD = "pmvd_latent_r2"  # PMVD of the latent score's R² from an interval regression (see the module docstring)
# Exact Shapley needs 2^players fits per replicate: fine for a dozen players, not for fifty.
MAX_PLAYERS = 12
MAX_ITERATIONS = 100  # Newton steps of the likelihood maximisation; it converges in under 10
TOLERANCE = 1e-10  # stop when the predicted gain in log-likelihood is this small, relative to its size


@dataclass(frozen=True)
class Driver:
    """One player of the decomposition: a numeric column, or a categorical column expanded into indicators."""

    name: str
    description: str
    categories: tuple[str, ...] = ()  # non-empty: categorical; one indicator per category but the first (reference)

    def columns(self) -> tuple[str, ...]:
        if not self.categories:
            return (self.name,)
        return tuple(f"{self.name}={c}" for c in self.categories[1:])


DRIVERS: tuple[Driver, ...] = (
    Driver("delay_days", "Days the order was delivered after the promised time (0 if on time or no order)."),
    Driver("not_fcr", "1 if the ticket took more than one contact (first-contact resolution failed), else 0."),
    Driver("wait_minutes", "Minutes from opening the ticket to the first response (0 without a ticket)."),
    Driver("contact_count", "Contacts on the ticket (0 without a ticket)."),
    Driver(
        "price_paid", "Order total in the reporting currency (the mean of the others if the response has no order)."
    ),
    Driver(
        "ticket_channel",
        "Channel of the ticket (none, chat, bot, phone, email, store): one group of indicators, none is the reference.",
        categories=("none", *TICKET_CHANNELS),
    ),
)

RESULT_COLUMNS = (
    "survey_type",
    "driver",
    "status",
    "importance",
    "ci_low",
    "ci_high",
    "importance_rank",
    "importance_lmg",
    "coefficient",
    "coefficient_ci_low",
    "coefficient_ci_high",
    "coefficient_sign",
    "ols_coefficient",
    "responses",
    "responses_excluded",
    "r_squared",
    "method",
    "replicates",
)

FLOAT_COLUMNS = ("importance", "ci_low", "ci_high", "importance_lmg", "coefficient", "coefficient_ci_low",
                 "coefficient_ci_high", "ols_coefficient", "r_squared")  # fmt: skip


@dataclass(frozen=True)
class AnalysisSettings:
    replicates: int = 200  # bootstrap resamples for the intervals
    seed: int = 20250701
    confidence: float = 0.95
    # Fewer usable responses than this give 'insufficient_responses' rows: with 10+ columns the fit would be noise.
    min_responses: int = 100

    def __post_init__(self) -> None:
        if self.replicates < 0:
            raise ValueError(f"replicates must be >= 0, got {self.replicates}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")
        if self.min_responses < 2:
            raise ValueError(f"min_responses must be >= 2, got {self.min_responses}")


# ---------------------------------------------------------------------------------------------------------------
# The driver matrix


def _utc(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.to_datetime(series, utc=True)
    # text from landing files: ISO-8601 with mixed offsets; anything unparseable is missing
    return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")


def build_driver_matrix(responses: pd.DataFrame, orders: pd.DataFrame, tickets: pd.DataFrame) -> pd.DataFrame:
    """One row per response: survey_type, score and the drivers, with ``excluded`` naming why a row cannot be used.

    ``responses``: response_id, survey_type, score, order_id, ticket_id. ``orders``: order_id, promised_delivery_at,
    delivered_at, amount_reporting. ``tickets``: ticket_id, opened_at, first_response_at, contact_count, channel.
    A response without an order has no delay; one without a ticket has no wait, no contacts and fcr met (the
    business meaning, and the generator's). A response that names an order or ticket the lake does not hold, or
    whose ticket lacks the timestamps, is excluded (not guessed): its drivers are unknown.
    """
    order_cols = ["order_id", "promised_delivery_at", "delivered_at", "amount_reporting"]
    ticket_cols = ["ticket_id", "opened_at", "first_response_at", "contact_count", "channel"]
    _require(responses, ["response_id", "survey_type", "score", "order_id", "ticket_id"], "responses")
    _require(orders, order_cols, "orders")
    _require(tickets, ticket_cols, "tickets")

    resp = responses[["response_id", "survey_type", "score", "order_id", "ticket_id"]].copy()
    for key in ("order_id", "ticket_id"):
        resp[key] = resp[key].where(resp[key].notna() & (resp[key].astype("string").str.strip() != ""), None)
    o = orders[order_cols].drop_duplicates("order_id", keep="last").copy()
    o["_order_found"] = True
    t = tickets[ticket_cols].drop_duplicates("ticket_id", keep="last").rename(columns={"channel": "_channel"})
    t["_ticket_found"] = True
    m = resp.merge(o, on="order_id", how="left").merge(t, on="ticket_id", how="left")

    has_order = m["order_id"].notna()
    has_ticket = m["ticket_id"].notna()
    late = (_utc(m["delivered_at"]) - _utc(m["promised_delivery_at"])).dt.total_seconds() / 86400
    out = pd.DataFrame({"response_id": m["response_id"], "survey_type": m["survey_type"].astype("string")})
    out["score"] = pd.to_numeric(m["score"], errors="coerce")
    # Not delivered (yet) or no promise: no delay, as the generator and the customer see it.
    out["delay_days"] = np.where(has_order, late.clip(lower=0).fillna(0.0), 0.0)
    contacts = pd.to_numeric(m["contact_count"], errors="coerce")
    out["not_fcr"] = np.where(has_ticket, (contacts > 1).astype(float), 0.0)
    wait = (_utc(m["first_response_at"]) - _utc(m["opened_at"])).dt.total_seconds() / 60
    out["wait_minutes"] = np.where(has_ticket, wait, 0.0)
    out["contact_count"] = np.where(has_ticket, contacts, 0.0)
    price = pd.to_numeric(m["amount_reporting"], errors="coerce").astype(float)
    out["price_paid"] = np.where(has_order, price, np.nan)  # imputed per survey type in design_matrix
    channel = m["_channel"].astype("string").str.strip().str.lower()
    out["ticket_channel"] = np.where(has_ticket, channel.fillna("unknown"), "none")

    reasons = pd.Series("", index=m.index, dtype="string")
    reasons = reasons.mask(out["score"].isna(), "score not numeric")
    low = out["survey_type"].map(lambda t: SCALES.get(t, (np.nan, np.nan))[0]).astype(float)
    high = out["survey_type"].map(lambda t: SCALES.get(t, (np.nan, np.nan))[1]).astype(float)
    outside = ~out["score"].between(low, high)  # unknown survey types have no scale: outside too
    reasons = reasons.mask((reasons == "") & outside, "score outside the survey's scale or unknown survey type")
    reasons = reasons.mask((reasons == "") & has_order & m["_order_found"].isna(), "order not in the lake")
    reasons = reasons.mask((reasons == "") & has_ticket & m["_ticket_found"].isna(), "ticket not in the lake")
    reasons = reasons.mask((reasons == "") & has_ticket & wait.isna(), "ticket without opened_at/first_response_at")
    reasons = reasons.mask((reasons == "") & has_ticket & contacts.isna(), "ticket without contact_count")
    reasons = reasons.mask((reasons == "") & has_ticket & (wait < 0), "ticket answered before it was opened")
    odd_channel = has_ticket & ~out["ticket_channel"].isin(TICKET_CHANNELS)
    reasons = reasons.mask((reasons == "") & odd_channel, f"ticket channel not one of {', '.join(TICKET_CHANNELS)}")
    out["excluded"] = reasons.where(reasons != "", None)
    return out.reset_index(drop=True)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"key drivers: the {what} input lacks column(s) {', '.join(missing)}")


def design_matrix(rows: pd.DataFrame, drivers: Sequence[Driver] = DRIVERS) -> tuple[np.ndarray, list[list[int]]]:
    """(X without intercept, column indices of each driver) for usable rows of one survey type.

    A missing price (no order) is set to the mean price of the rows that have one, so that having no order
    carries no signal of its own in the price driver."""
    blocks: list[np.ndarray] = []
    groups: list[list[int]] = []
    width = 0
    for d in drivers:
        if d.categories:
            values = rows[d.name].astype("string").to_numpy()
            unknown = sorted(set(values) - set(d.categories))
            if unknown:
                raise ValueError(f"key drivers: {d.name} has values outside {d.categories}: {unknown[:5]}")
            block = np.column_stack([(values == c).astype(float) for c in d.categories[1:]])
        else:
            col = rows[d.name].to_numpy(dtype=float)
            if np.isnan(col).any():
                observed = col[~np.isnan(col)]
                col = np.where(np.isnan(col), observed.mean() if observed.size else 0.0, col)
            block = col[:, None]
        blocks.append(block)
        groups.append(list(range(width, width + block.shape[1])))
        width += block.shape[1]
    x = np.hstack(blocks) if blocks else np.empty((len(rows), 0))
    return x, groups


# ---------------------------------------------------------------------------------------------------------------
# The latent-score model: interval-censored normal regression


@dataclass(frozen=True)
class LatentFit:
    """score* = intercept + x·slopes + N(0, sigma²), observed rounded to an integer and clipped to the scale."""

    intercept: float
    slopes: np.ndarray
    sigma: float


def _log_prob_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Φ(b) - Φ(a)) for a < b, accurate in both tails (reflected when the interval lies right of 0)."""
    # Imported here: a build that re-uses a young fit never calls this, and scipy.special costs it 0.2 s to import.
    from scipy import special

    right = a > 0
    lo = np.where(right, -b, a)
    hi = np.where(right, -a, b)
    log_hi = special.log_ndtr(hi)
    return log_hi + np.log1p(-np.exp(special.log_ndtr(lo) - log_hi))


def _pdf(z: np.ndarray) -> np.ndarray:
    finite = np.isfinite(z)
    return np.where(finite, np.exp(-0.5 * np.where(finite, z, 0.0) ** 2) / math.sqrt(2 * math.pi), 0.0)


def fit_latent(
    x: np.ndarray,
    y: np.ndarray,
    scale: tuple[float, float],
    w: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> tuple[LatentFit, np.ndarray]:
    """Maximum-likelihood interval regression (the "ordered probit with known cut-points" of a rounded score).

    A score s inside the scale means the latent score lay in [s - 0.5, s + 0.5); the lowest score means at most
    min + 0.5, the highest at least max - 0.5. OLS on the observed score is biased towards 0 by the clipping (a
    50-minute wait cannot lower a 0 any further); this model is the generator's own shape, so its slopes are not.
    Newton's method in Olsen's (1978) parameters γ = (a, b)/σ, τ = 1/σ, where the log-likelihood is concave, with
    step halving. Returns the fit and (γ, τ) as a warm start for bootstrap replicates."""
    if w is not None:  # rows a bootstrap resample did not draw add nothing: leave them out
        drawn = w > 0
        x, y, w = x[drawn], y[drawn], w[drawn]
    n = len(y)
    w = np.ones(n) if w is None else w
    design = np.column_stack([np.ones(n), x])
    lower_open, upper_open = y <= scale[0], y >= scale[1]  # censored ends: the bound is -inf / +inf
    lower = np.where(lower_open, 0.0, y - 0.5)
    upper = np.where(upper_open, 0.0, y + 0.5)
    if start is None:
        beta = np.linalg.lstsq(design * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        resid = y - design @ beta
        sigma = max(float(np.sqrt((w @ resid**2) / w.sum())), 1e-3)
        start = np.append(beta / sigma, 1 / sigma)

    def evaluate(theta: np.ndarray, derivatives: bool) -> tuple[float, np.ndarray, np.ndarray]:
        index = design @ theta[:-1]
        z_upper = np.where(upper_open, np.inf, theta[-1] * upper - index)
        z_lower = np.where(lower_open, -np.inf, theta[-1] * lower - index)
        log_p = _log_prob_between(z_lower, z_upper)
        value = float(w @ log_p)
        if not derivatives:
            return value, np.empty(0), np.empty(0)
        p = np.exp(log_p)
        pdf_u, pdf_l = _pdf(z_upper), _pdf(z_lower)
        zu, zl = np.where(upper_open, 0.0, z_upper), np.where(lower_open, 0.0, z_lower)
        d_u, d_l = pdf_u / p, -pdf_l / p
        h_uu = -zu * pdf_u / p - d_u**2
        h_ll = zl * pdf_l / p - d_l**2
        h_ul = -d_u * d_l
        # z = τ·bound - design·γ: dz/dγ = -design, dz/dτ = bound; the blocks below are the chain rule written so
        # that the only n x k product is one weighted design'design
        gradient = np.append(-(design.T @ (w * (d_u + d_l))), w @ (d_u * upper + d_l * lower))
        hessian = np.empty((design.shape[1] + 1, design.shape[1] + 1))
        hessian[:-1, :-1] = (design * (w * (h_uu + h_ll + 2 * h_ul))[:, None]).T @ design
        hessian[:-1, -1] = hessian[-1, :-1] = -(design.T @ (w * (upper * (h_uu + h_ul) + lower * (h_ll + h_ul))))
        hessian[-1, -1] = w @ (h_uu * upper**2 + h_ll * lower**2 + 2 * h_ul * upper * lower)
        return value, gradient, hessian

    theta = np.asarray(start, dtype=float).copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        current, gradient, hessian = evaluate(theta, True)
        for _ in range(MAX_ITERATIONS):
            step = np.linalg.lstsq(-hessian, gradient, rcond=1e-12)[0]
            if float(gradient @ step) < TOLERANCE * max(1.0, abs(current)):
                break
            for _halving in range(40):
                trial = theta + step
                if trial[-1] > 0:
                    value = evaluate(trial, False)[0]
                    if np.isfinite(value) and value >= current:
                        break
                step = step / 2
            else:
                break
            theta = trial
            current, gradient, hessian = evaluate(theta, True)
    sigma = 1 / theta[-1]
    return LatentFit(float(theta[0] * sigma), theta[1:-1] * sigma, float(sigma)), theta


def latent_subset_r2(fit: LatentFit, cov_x: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """R² of the latent score's best linear prediction from each subset of players (bit mask -> R²).

    From the fitted slopes β, the drivers' covariance Σ and σ²: R²(S) = β'Σ_·S Σ_SS⁺ Σ_S· β / (β'Σβ + σ²), what OLS
    on the unclipped score would give in the sample; the pseudo-inverse gives collinear columns no extra weight."""
    cov_xy = cov_x @ fit.slopes
    total = float(fit.slopes @ cov_xy) + fit.sigma**2
    return np.clip(_explained_by_subsets(cov_x, cov_xy, groups) / total, 0.0, 1.0)


def _explained_by_subsets(cov_x: np.ndarray, cov_xy: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """c_S' C_SS⁻¹ c_S for every subset S of players (bit mask -> value); 0 for the empty set."""
    explained = np.zeros(1 << len(groups))
    for mask, cols in enumerate(_subset_columns(tuple(tuple(g) for g in groups))):
        if mask:
            sub, target = cov_x[np.ix_(cols, cols)], cov_xy[cols]
            try:
                explained[mask] = target @ np.linalg.solve(sub, target)
            except np.linalg.LinAlgError:  # collinear columns: the pseudo-inverse gives them no extra weight
                explained[mask] = target @ np.linalg.lstsq(sub, target, rcond=1e-10)[0]
    return explained


@lru_cache(maxsize=16)
def _subset_columns(groups: tuple[tuple[int, ...], ...]) -> list[list[int]]:
    return [[c for p, g in enumerate(groups) if mask >> p & 1 for c in g] for mask in range(1 << len(groups))]


def ols_subset_r2(x: np.ndarray, y: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """R² of OLS of ``y`` on each subset of players (bit mask -> R²): the decomposition for an unclipped score."""
    x = _standardise(x)[0]
    xc, yc = x - x.mean(axis=0), y - y.mean()
    var_y = float(yc @ yc)
    if var_y <= 0:
        return np.zeros(1 << len(groups))
    return np.clip(_explained_by_subsets(xc.T @ xc, xc.T @ yc, groups) / var_y, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Decompositions of R² over players (subset R² table -> one share per player, summing to R² of all)


def lmg_shares(r2: np.ndarray, players: int) -> np.ndarray:
    """Shapley values (LMG): each player's marginal R² averaged over all orders in which players can enter.

    Shares variance that correlated drivers explain jointly evenly between them, so a proxy of a real driver
    (the ticket channel, whose waits differ) gets a share too."""
    return _shapley_operator(players) @ r2


@lru_cache(maxsize=16)
def _shapley_operator(players: int) -> np.ndarray:
    """The Shapley value is linear in the subset values: phi = M @ r2, with M built once per number of players."""
    weight = [math.factorial(s) * math.factorial(players - s - 1) / math.factorial(players) for s in range(players)]
    operator = np.zeros((players, 1 << players))
    for mask in range(1 << players):
        for p in range(players):
            if not mask >> p & 1:
                operator[p, mask | 1 << p] += weight[mask.bit_count()]
                operator[p, mask] -= weight[mask.bit_count()]
    return operator


def pmvd_shares(r2: np.ndarray, players: int) -> np.ndarray:
    """Proportional marginal variance decomposition (Feldman 2005, "The proportional value of a cooperative game";
    Grömping 2007 above): the marginal R² averaged over orders like LMG, but each order weighted by
    Π_i 1 / R²(players after position i | players up to i). A driver whose coefficient is 0 adds nothing when it
    enters last, so the orders that put it last dominate and its share tends to 0 ("exclusion"), which LMG lacks."""
    if players == 0:
        return np.zeros(0)
    orders = np.array(list(permutations(range(players))))
    prefix = np.zeros((len(orders), players + 1), dtype=np.int64)
    for i in range(players):
        prefix[:, i + 1] = prefix[:, i] | (1 << orders[:, i])
    r2_prefix = r2[prefix]
    rest = np.maximum(r2_prefix[:, -1:] - r2_prefix[:, 1:players], 1e-12)  # floor: exact zeros would be 1/0
    log_weight = -np.log(rest).sum(axis=1)
    weight = np.exp(log_weight - log_weight.max())
    weight /= weight.sum()
    gains = np.diff(r2_prefix, axis=1)
    phi = np.zeros(players)
    for i in range(players):
        np.add.at(phi, orders[:, i], weight * gains[:, i])
    return phi


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to unit standard deviation (constant columns left as they are): prices in dong next to 0/1
    flags would otherwise make the cross-product matrices too ill-conditioned for the rank cut-off."""
    spread = x.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return x / spread, spread


def _weighted_cov(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    centred = x - (w @ x) / w.sum()
    return (centred * w[:, None]).T @ centred / w.sum()


# ---------------------------------------------------------------------------------------------------------------
# One survey type, then all


@dataclass(frozen=True)
class _Estimate:
    importance: np.ndarray  # PMVD share of latent R², per player
    importance_lmg: np.ndarray  # LMG share of latent R², per player
    r_squared: float
    slopes: np.ndarray  # per standardised column
    theta: np.ndarray


def _estimate(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[Sequence[int]],
    scale: tuple[float, float],
    w: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> _Estimate:
    fit, theta = fit_latent(x, y, scale, w, start)
    r2 = latent_subset_r2(fit, _weighted_cov(x, np.ones(len(y)) if w is None else w), groups)
    players = len(groups)
    return _Estimate(pmvd_shares(r2, players), lmg_shares(r2, players), float(r2[-1]), fit.slopes, theta)


def analyse_drivers(
    rows: pd.DataFrame, survey_type: str, settings: AnalysisSettings, drivers: Sequence[Driver] = DRIVERS
) -> pd.DataFrame:
    """Result rows (one per driver) for one survey type's rows of the driver matrix."""
    excluded = int(rows["excluded"].notna().sum())
    usable = rows[rows["excluded"].isna()]
    n = len(usable)
    base = {"survey_type": survey_type, "responses": n, "responses_excluded": excluded, "method": METHOD,
            "replicates": settings.replicates}  # fmt: skip
    y = usable["score"].to_numpy(dtype=float)
    if n < settings.min_responses or np.unique(y).size < 2:
        status = "insufficient_responses" if n < settings.min_responses else "no_score_variance"
        return _frame([{**base, "driver": d.name, "status": status} for d in drivers])

    raw, all_groups = design_matrix(usable, drivers)
    constant = [bool(np.all(np.ptp(raw[:, g], axis=0) == 0)) for g in all_groups]
    varying = [p for p in range(len(drivers)) if not constant[p]]
    if len(varying) > MAX_PLAYERS:
        raise ValueError(f"exact decomposition over {len(varying)} drivers needs 2^{len(varying)} fits: at most "
                         f"{MAX_PLAYERS}")  # fmt: skip
    # constant drivers explain nothing and have no coefficient: left out of the model
    cols = [c for p in varying for c in all_groups[p]]
    x, spread = _standardise(raw[:, cols])
    groups, at = [], 0
    for p in varying:
        groups.append(list(range(at, at + len(all_groups[p]))))
        at += len(all_groups[p])
    scale = SCALES[survey_type]
    rng = np.random.default_rng(settings.seed)
    boot_importance = np.empty((settings.replicates, len(groups)))
    boot_slopes = np.empty((settings.replicates, x.shape[1]))
    # n x 13 products and 13 x 13 solves: BLAS threads only hand work back and forth (3x slower on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        point = _estimate(x, y, groups, scale)
        for r in range(settings.replicates):
            counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
            replicate = _estimate(x, y, groups, scale, counts, start=point.theta)
            boot_importance[r], boot_slopes[r] = replicate.importance, replicate.slopes
    alpha = (1 - settings.confidence) / 2

    def interval(samples: np.ndarray) -> tuple[float | None, float | None]:
        if samples.shape[0] == 0:
            return None, None
        low, high = np.quantile(samples, [alpha, 1 - alpha])
        return float(low), float(high)

    order = sorted(varying, key=lambda p: -point.importance[varying.index(p)])
    ranks = {p: i + 1 for i, p in enumerate(order)}
    ols = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0][1:] / spread
    out = []
    for p, d in enumerate(drivers):
        row = {**base, "driver": d.name, "r_squared": point.r_squared}
        if constant[p]:
            out.append(row | {"status": "constant_driver", "importance": 0.0, "importance_lmg": 0.0})
            continue
        k = varying.index(p)
        low, high = interval(boot_importance[:, k])
        row |= {"status": "ok", "importance": float(point.importance[k]), "ci_low": low, "ci_high": high,
                "importance_lmg": float(point.importance_lmg[k]), "importance_rank": ranks[p]}  # fmt: skip
        if not d.categories:  # a group of indicators has no single coefficient
            c = groups[k][0]
            c_low, c_high = interval(boot_slopes[:, c] / spread[c])
            row |= {"coefficient": float(point.slopes[c] / spread[c]), "coefficient_ci_low": c_low,
                    "coefficient_ci_high": c_high, "coefficient_sign": _sign(c_low, c_high),
                    "ols_coefficient": float(ols[c])}  # fmt: skip
        out.append(row)
    return _frame(out)


def _sign(low: float | None, high: float | None) -> str:
    """'+' or '-' when the interval excludes 0, else '0' (not distinguishable from no effect)."""
    if low is None or high is None:
        return "0"
    return "+" if low > 0 else "-" if high < 0 else "0"


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS))
    for col in FLOAT_COLUMNS:
        frame[col] = frame[col].astype(float)
    for col in ("importance_rank", "responses", "responses_excluded", "replicates"):
        frame[col] = frame[col].astype("Int64")
    for col in ("survey_type", "driver", "status", "coefficient_sign", "method"):
        frame[col] = frame[col].astype(object)
    return frame


def key_drivers(
    matrix: pd.DataFrame, settings: AnalysisSettings | None = None, survey_types: Sequence[str] = SURVEY_TYPES
) -> pd.DataFrame:
    """The key-driver table: one row per survey type × driver, every survey type present even without responses."""
    settings = settings or AnalysisSettings()
    frames = [analyse_drivers(matrix[matrix["survey_type"] == s], s, settings) for s in survey_types]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------------
# Re-using the last estimates (the dbt model int_cx__key_driver_estimates)


def inputs_fingerprint(matrix: pd.DataFrame, settings: AnalysisSettings) -> str:
    """A digest of everything the estimates depend on: the driver matrix (its rows in response order), the settings
    and this module's code. Equal fingerprints give equal estimates (the bootstrap is seeded)."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr(settings).encode())
    ordered = matrix.sort_values("response_id", kind="stable").reset_index(drop=True)
    digest.update(",".join(f"{name}:{dtype}" for name, dtype in ordered.dtypes.items()).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def reusable_estimates(
    previous: pd.DataFrame | None, *, fingerprint: Callable[[], str], as_of: datetime, refit_days: float
) -> pd.DataFrame | None:
    """The last estimates when they may stand for ``as_of``, else None (fit again).

    They stand when they were computed for an as_of less than ``refit_days`` before this one (responses may have
    arrived, but the shares of the whole history move slowly, as the CLV fit's parameters: ``clv_refit_days``), or
    when their inputs' fingerprint equals ``fingerprint()`` (no response arrived, no driver changed: a fit would give
    the same table). The age is checked first, so a young fit is re-used without reading the inputs that
    ``fingerprint`` reads. ``refit_days`` 0 refits whenever the inputs changed. Re-used rows keep the as_of they
    were computed for (``computed_for_as_of``) and their fingerprint."""
    needed = {*RESULT_COLUMNS, "computed_for_as_of", "input_fingerprint"}
    if previous is None or previous.empty or not needed <= set(previous.columns):
        return None  # none yet, or written before fingerprints were recorded
    fingerprints = set(previous["input_fingerprint"].dropna())
    computed = pd.to_datetime(previous["computed_for_as_of"], utc=True)
    if len(fingerprints) != 1 or computed.isna().any() or computed.nunique() != 1:
        return None
    age = pd.Timestamp(as_of).tz_convert("UTC") - computed.iloc[0]
    if pd.Timedelta(0) <= age < pd.Timedelta(days=refit_days):
        return previous
    if fingerprints == {fingerprint()}:
        return previous
    return None
