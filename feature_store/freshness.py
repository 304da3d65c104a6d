"""Is the online store fresh? It must hold the latest build's traits and have been loaded recently.

Two separate failures, because they have different fixes: the online store is *behind* when a trait snapshot in
the lake is newer than what was materialised (run ``cdp features materialize``); it is *stale* when the last
materialisation ran longer ago than ``feature_freshness_hours`` (the pipeline has stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cdp import lake as layout
from cdp.lake import Lake
from marts.duckdb_delta import lake_connection


@dataclass(frozen=True)
class Freshness:
    passed: bool
    message: str
    latest_snapshot: datetime | None
    behind: list[str] = field(default_factory=list)
    hours_since_materialised: float | None = None


def latest_snapshot(lake: Lake) -> datetime | None:
    """The as_of of the newest trait snapshot in the lake."""
    if not lake.exists(layout.CUSTOMER_TRAIT_HISTORY):
        return None
    con = lake_connection()
    try:
        row = con.execute("select max(as_of) from delta_scan(?)", [lake.uri(layout.CUSTOMER_TRAIT_HISTORY)]).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def check_freshness(
    lake: Lake,
    materialized_until: dict[str, datetime | None],
    *,
    last_materialised_at: datetime | None,
    now: datetime,
    max_age: timedelta,
) -> Freshness:
    latest = latest_snapshot(lake)
    behind = sorted(
        name for name, until in materialized_until.items() if until is None or (latest is not None and until < latest)
    )
    hours = None if last_materialised_at is None else (now - last_materialised_at).total_seconds() / 3600
    problems = []
    if behind:
        problems.append(f"online store behind the lake's snapshot of {latest}: {', '.join(behind)}")
    if hours is None:
        problems.append("never materialised")
    elif hours > max_age.total_seconds() / 3600:
        problems.append(f"last materialised {hours:.1f} h ago (limit {max_age.total_seconds() / 3600:g} h)")
    message = "; ".join(problems) or f"online store holds the snapshot of {latest}, loaded {hours:.1f} h ago"
    return Freshness(not problems, message, latest, behind, hours)
