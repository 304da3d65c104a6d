"""Audience membership as a feature: the audiences each customer is in, from every change on.

gold.audience_memberships has one row per stay (``entered_at``, ``exited_at``); a feature view needs one row per
customer and time. Every entry or exit is a change: the row for it lists the audiences in force from then on
(entered at or before, not yet exited), split into the ones the customer is activated in and the ones they are held
out of (kept out of activation to measure lift, so personalisation must not use them either).
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake
from feature_store.feature_repo.data_sources import CUSTOMER_AUDIENCE_HISTORY
from marts.duckdb_delta import lake_connection, write_relation

AUDIENCE_HISTORY_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("changed_at", pa.timestamp("us", tz="UTC")),
        ("audiences", pa.list_(pa.string())),
        ("holdout_audiences", pa.list_(pa.string())),
        ("audience_count", pa.int64()),
    ]
)

_HISTORY_SQL = """
with stays as (
    select customer_id, audience_name, entered_at, exited_at, is_holdout
    from delta_scan(?) where customer_id is not null
),
changes as (
    select customer_id, entered_at as changed_at from stays
    union
    select customer_id, exited_at from stays where exited_at is not null
),
pairs as (
    -- Every change of a customer against every stay of that customer: an equi-join (hash join); the time test sits
    -- in the aggregate filters, because an OR in the join condition makes DuckDB fall back to a nested loop.
    select c.customer_id, c.changed_at, s.audience_name, s.is_holdout,
        s.entered_at <= c.changed_at and coalesce(s.exited_at > c.changed_at, true) as in_force
    from changes as c
    join stays as s using (customer_id)
)
select
    customer_id,
    changed_at,
    coalesce(list(audience_name order by audience_name) filter (where in_force and not is_holdout), [])::varchar[]
        as audiences,
    coalesce(list(audience_name order by audience_name) filter (where in_force and is_holdout), [])::varchar[]
        as holdout_audiences,
    count(*) filter (where in_force and not is_holdout) as audience_count
from pairs
group by customer_id, changed_at
"""


def build_audience_history(lake: Lake) -> int:
    """Rewrite gold.customer_audience_history from gold.audience_memberships; return its row count."""
    target = lake.uri(CUSTOMER_AUDIENCE_HISTORY)
    if not lake.exists(layout.AUDIENCE_MEMBERSHIPS):
        write_deltalake(target, AUDIENCE_HISTORY_SCHEMA.empty_table(), mode="overwrite", schema_mode="overwrite")
        return 0
    con = lake_connection()
    try:
        con.execute(f"create temp table history as {_HISTORY_SQL}", [lake.uri(layout.AUDIENCE_MEMBERSHIPS)])
        write_relation(con, "history", target, mode="overwrite")
        row = con.execute("select count(*) from history").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()
