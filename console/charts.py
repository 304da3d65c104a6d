"""The console's charts, drawn on the server to SVG with matplotlib: pages need no JavaScript and no CDN.

Each function takes plain rows and returns an SVG string (text kept as text, so it scales and can be searched).
Figures are built with matplotlib's object API (never pyplot's global state), so threads may draw at once.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit

from matplotlib.figure import Figure

_STYLE: Any = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
_COLOUR, _MUTED = "#2f6db5", "#9bb7dc"
# matplotlib's text layout caches are shared between figures; one drawing at a time keeps them consistent.
_DRAWING = threading.Lock()


def _svg(fig: Figure, label: str) -> str:
    buffer = io.StringIO()
    with _DRAWING:
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside an HTML page
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="chart" ', 1)


def _figure(width: float = 6.4, height: float = 2.8) -> Figure:
    with matplotlib.rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def trend(points: Sequence[dict[str, Any]], title: str, unit: str, limits: tuple[float, float] | None = None) -> str:
    """A metric over periods with its 95% interval as a band; periods below the minimum sample are hollow."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        x = [p["period_start"][:7] for p in points]
        values = [p["value"] for p in points]
        low = [p["ci_low"] if p["ci_low"] is not None else p["value"] for p in points]
        high = [p["ci_high"] if p["ci_high"] is not None else p["value"] for p in points]
        ax.fill_between(range(len(x)), low, high, color=_MUTED, alpha=0.5, linewidth=0, label="95% interval")
        ax.plot(range(len(x)), values, color=_COLOUR, linewidth=1.5)
        solid = [i for i, p in enumerate(points) if p["is_reportable"]]
        hollow = [i for i, p in enumerate(points) if not p["is_reportable"]]
        ax.scatter(solid, [values[i] for i in solid], color=_COLOUR, zorder=3, s=18, label="reportable")
        ax.scatter(
            hollow,
            [values[i] for i in hollow],
            facecolor="white",
            edgecolor=_COLOUR,
            zorder=3,
            s=18,
            label="below minimum sample",
        )
        ax.set_xticks(range(len(x)), x, rotation=45, ha="right")
        ax.set_ylabel(unit)
        if limits:  # the scale's own range: an interval from a handful of answers can run past it
            ax.set_ylim(*limits)
        # Above the axes, not inside them: "best" still covered the line on short series.
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=3, fontsize=7, frameon=False, borderaxespad=0.2)
        return _svg(fig, title)


def interval_bars(
    labels: Sequence[str],
    values: Sequence[float],
    low: Sequence[float | None],
    high: Sequence[float | None],
    title: str,
    unit: str,
) -> str:
    """Horizontal bars with interval whiskers (key-driver importances), largest on top."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(height=max(1.6, 0.35 * len(labels) + 0.8))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        ax.barh(y, values, color=_COLOUR)
        lower = [v - (lo if lo is not None else v) for v, lo in zip(values, low, strict=True)]
        upper = [(hi if hi is not None else v) - v for v, hi in zip(values, high, strict=True)]
        ax.errorbar(values, y, xerr=[lower, upper], fmt="none", ecolor="#333333", capsize=3, linewidth=1)
        ax.set_yticks(y, labels)
        ax.set_xlabel(unit)
        return _svg(fig, title)


def bars(
    labels: Sequence[str], values: Sequence[float], title: str, unit: str, annotations: Sequence[str] | None = None
) -> str:
    """Horizontal bars in the given order (funnel steps, audience sizes), each with an optional note at its end."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(height=max(1.6, 0.35 * len(labels) + 0.8))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        ax.barh(y, values, color=_COLOUR)
        for yi, value, note in zip(y, values, annotations or [""] * len(labels), strict=True):
            ax.text(value, yi, f" {value:,.0f} {note}".rstrip(), va="center", fontsize=8)
        ax.set_yticks(y, labels)
        ax.set_xlabel(unit)
        ax.set_xlim(0, max(values, default=1) * 1.3 or 1)
        return _svg(fig, title)


def cohort_heatmap(rows: Sequence[dict[str, Any]], title: str) -> str:
    """Retention rate per first-purchase month (rows) and months since (columns)."""
    cohorts = sorted({r["cohort_month"] for r in rows})
    months = sorted({r["months_since_first"] for r in rows})
    grid = [[float("nan")] * len(months) for _ in cohorts]
    for r in rows:
        if r["retention_rate"] is not None:
            grid[cohorts.index(r["cohort_month"])][months.index(r["months_since_first"])] = r["retention_rate"]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(height=max(1.8, 0.3 * len(cohorts) + 1.0))
        ax = fig.add_subplot()
        image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(months)), [str(m) for m in months])
        ax.set_yticks(range(len(cohorts)), cohorts)
        ax.set_xlabel("months since first purchase")
        fig.colorbar(image, ax=ax, label="retention rate")
        return _svg(fig, title)
