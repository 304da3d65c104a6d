"""Audience sizes now and over time, and a masked sample of members, read from the lake with DuckDB (no Spark)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from cdp import lake as layout
from cdp.lake import Lake
from marts.duckdb_delta import lake_connection
from spark_jobs.jobs.explain import mask


class AudienceNotFound(LookupError):
    pass


@dataclass
class AudienceSize:
    name: str
    purpose: str
    channel: str
    priority: int
    owner: str
    members: int
    holdout: int


def _connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    needed = (layout.AUDIENCES, layout.AUDIENCE_MEMBERSHIPS, layout.CUSTOMERS, layout.CUSTOMER_TRAITS)
    missing = [t.qualified_name for t in needed if not lake.exists(t)]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not in {lake.root}: run `cdp build` (or `cdp run`) first")
    con = lake_connection()  # the process's database: temp views, so other readers keep theirs
    for table in (*needed, layout.CUSTOMER_TRAIT_HISTORY):
        if lake.exists(table):
            con.execute(f"create temp view {table.name} as select * from delta_scan('{lake.uri(table)}')")
    return con


def audience_sizes(lake: Lake) -> list[AudienceSize]:
    with _connect(lake) as con:
        rows = con.sql(
            """
            select a.name, a.purpose, a.channel, a.priority, a.owner,
                   count(m.customer_id) as members,
                   count(m.customer_id) filter (where m.is_holdout) as holdout
            from audiences a
            left join audience_memberships m on m.audience_name = a.name and m.exited_at is null
            group by all
            order by a.priority, a.name
            """
        ).fetchall()
    return [AudienceSize(*row) for row in rows]


def size_history(lake: Lake, name: str, *, builds: int = 12) -> list[tuple[datetime, int]]:
    """Members at each of the last ``builds`` builds (the as_of values of the trait history)."""
    with _connect(lake) as con:
        _require(con, name)
        return con.execute(
            """
            with builds as (
                select distinct as_of from customer_trait_history order by as_of desc limit ?
            )
            select b.as_of, count(m.customer_id)
            from builds b
            left join audience_memberships m
                on m.audience_name = ? and m.entered_at <= b.as_of and (m.exited_at is null or m.exited_at > b.as_of)
            group by b.as_of
            order by b.as_of
            """,
            [builds, name],
        ).fetchall()


def member_sample(lake: Lake, name: str, *, limit: int = 10, show_pii: bool = False) -> list[dict[str, Any]]:
    """Current members with their key traits; email and phone masked unless ``show_pii``."""
    with _connect(lake) as con:
        _require(con, name)
        cursor = con.execute(
            """
            select m.customer_id, c.email, c.phone, c.country, t.value_segment, t.frequency,
                   round(t.expected_value_365d) as expected_value_365d, round(t.churn_risk, 2) as churn_risk,
                   m.entered_at, m.is_holdout
            from audience_memberships m
            join customers c using (customer_id)
            join customer_traits t using (customer_id)
            where m.audience_name = ? and m.exited_at is null
            order by hash(m.customer_id)  -- a spread sample, the same on every call
            limit ?
            """,
            [name, limit],
        )
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if not show_pii:
        for row in rows:
            row["email"], row["phone"] = mask("email", row["email"]), mask("phone", row["phone"])
    return rows


def _require(con: duckdb.DuckDBPyConnection, name: str) -> None:
    known = [r[0] for r in con.sql("select name from audiences order by name").fetchall()]
    if name not in known:
        raise AudienceNotFound(f"no audience {name!r}; the audiences are: {', '.join(known) or 'none'}")
