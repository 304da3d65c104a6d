"""The journey funnel built incrementally (int_journeys__funnel_counts recounts only changed weeks): a build after a
late event that joins two sessions across a Monday, a new session, and an as_of that moves past a step gives the
same funnel as a build of the final lake from scratch."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.journeys.conftest import JourneyLake
from tests.marts.conftest import AS_OF, ts

SELECT = "+journey_funnel"
VIEW_CART = ["Product Viewed", "Product Added"]
FULL_FUNNEL = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]


def _funnel(lake: Lake) -> list[tuple]:
    con = duckdb.connect()
    load_delta_extension(con)
    return con.execute(
        f"select * from delta_scan('{lake.uri(layout.JOURNEY_FUNNEL)}') order by week_start, channel, step_number"
    ).fetchall()


def _sessions_per_step(rows: list[tuple]) -> dict[tuple[str, str], list[int]]:
    funnel: dict[tuple[str, str], list[int]] = {}
    for week_start, channel, _step, _number, sessions, *_ in rows:
        funnel.setdefault((str(week_start), channel), []).append(sessions)
    return funnel


def test_incremental_funnel_equals_a_build_from_scratch(lake: Lake, tmp_path) -> None:
    w = JourneyLake(lake)
    # v1 on Sunday night on the web, and 39 minutes later on Monday in the app: two sessions, two weeks
    w.session("v1", ts("2025-06-22T23:50:00"), VIEW_CART)
    w.session("v1", ts("2025-06-23T00:30:00"), FULL_FUNNEL[:3], channel="app")
    # v2 checks out and buys after as_of (steps 10 minutes apart from 23:45)
    w.session("v2", ts("2025-06-30T23:45:00"), FULL_FUNNEL, gap=timedelta(minutes=10))
    w.session("v3", ts("2025-06-09T10:00:00"), FULL_FUNNEL)  # untouched
    w.write_identity()
    build_marts(lake, as_of=AS_OF, select=SELECT)
    assert _sessions_per_step(_funnel(lake)) == {
        ("2025-06-09", "web"): [1, 1, 1, 1],
        ("2025-06-16", "web"): [1, 1, 0, 0],
        ("2025-06-23", "app"): [1, 1, 1, 0],
        ("2025-06-30", "web"): [1, 1, 0, 0],
    }

    # A day later: v1's late event at 00:10 joins its two sessions into Sunday's (its Monday week empties),
    # a new visitor, and v2's checkout and purchase are no longer after as_of.
    late = AS_OF + timedelta(hours=12)
    w.session("v1", ts("2025-06-23T00:10:00"), ["Cart Viewed"], channel="app", ingested_at=late)
    w.session("v4", ts("2025-07-01T08:00:00"), VIEW_CART, ingested_at=late)
    w.write_identity()
    build_marts(lake, as_of=AS_OF + timedelta(days=1), select=SELECT)
    incremental = _funnel(lake)
    assert _sessions_per_step(incremental) == {
        ("2025-06-09", "web"): [1, 1, 1, 1],
        ("2025-06-16", "web"): [1, 1, 1, 0],
        ("2025-06-30", "web"): [2, 2, 1, 1],
    }

    # The same final lake built from scratch: a copy without dbt's working database.
    fresh = Lake(tmp_path / "fresh")
    shutil.copytree(
        lake.root, fresh.root, ignore=lambda d, names: [n for n in names if Path(d) / n == lake.marts_dir()]
    )
    build_marts(fresh, as_of=AS_OF + timedelta(days=1), select=SELECT)
    assert _funnel(fresh) == incremental
