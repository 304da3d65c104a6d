"""Consent as ranges for activation's gate: per customer, purpose and channel, each consent event in force from
valid_from (its occurred_at) until valid_to (the next event's, null for the latest); of events at one instant only
the winner (a withdrawal, then the highest consent_id) gets a range. The query is activation.consent_ranges', shared
with the tests and the benchmark.

Incremental (delta_mode merge): after the first build only the customer, purpose and channel keys whose events
changed get their ranges again, and only ranges that differ from the last build's are written, here and in the lake.
The changed events are those int_consent__events keyed since this mart's last merge (new, re-sent or re-keyed; its
mark in <mart>__merged_to, written by the post-hook merged_history_mark as for the consent history), so a build that
keyed events but stopped short of this mart leaves them for the next. A key is touched by a changed event's new row and
by the range its event had before (re-keyed away). Without a mark, or when every event was keyed after it (the events
rebuilt by --full-refresh, which may drop some), the events and the last build's ranges are compared row by row
instead: slower (two excepts over every event), never stale. Ranges of a touched key that no longer exist are removed.
"""

# The event columns a range carries; a range equal to its event on all of them is up to date.
EVENT_COLUMNS = (
    "customer_id, purpose, channel, status, is_granted, consent_id, occurred_at, capture_source, policy_version"
)
# Null purposes and channels are keys too (the ranges' window partitions them together).
SAME_KEY = (
    "{a}.customer_id = {b}.customer_id and {a}.purpose is not distinct from {b}.purpose"
    " and {a}.channel is not distinct from {b}.channel"
)


def last_merge_mark(dbt, session):
    """When this mart last merged (macro merged_history_mark's table), as text; None before its first mark."""
    this = dbt.this
    marks = session.execute(
        "select count(*) from information_schema.tables"
        " where table_catalog = ? and table_schema = ? and table_name = ?",
        [this.database, this.schema, f"{this.identifier}__merged_to"],
    ).fetchone()[0]
    if not marks:
        return None
    return session.execute(
        f'select max(merged_to)::varchar from "{this.database}"."{this.schema}"."{this.identifier}__merged_to"'
    ).fetchone()[0]


def every_event_keyed_after(events, mark: str) -> bool:
    """True when no event was keyed by the builds up to ``mark`` (the events were rebuilt, or there are none)."""
    return events.query(
        "events", f"select coalesce(min(keyed_at) > '{mark}'::timestamptz, true) from events"
    ).fetchone()[0]


def model(dbt, session):
    dbt.config(materialized="delta", delta_mode="merge", unique_key="consent_id", delta_delete_flag="is_removed")
    from activation.consent_ranges import DBT_SAME_INSTANT_WINNER, ranges_query

    events = dbt.ref("int_consent__events").project(f"{EVENT_COLUMNS}, keyed_at")
    if not dbt.delta_is_incremental:
        # Clustered as the consent history (what an export filters on: purpose and channel).
        return events.query(
            "events",
            ranges_query(f"(select {EVENT_COLUMNS} from events)", DBT_SAME_INSTANT_WINNER)
            + " order by purpose, channel, customer_id",
        )

    mark = last_merge_mark(dbt, session)
    if mark is None or every_event_keyed_after(events, mark):
        changed = f"""
            (select {EVENT_COLUMNS} from events where occurred_at is not null  -- an undated event has no range
             except select {EVENT_COLUMNS} from built)
            union all
            (select {EVENT_COLUMNS} from built except select {EVENT_COLUMNS} from events)
        """
    else:
        changed = f"select {EVENT_COLUMNS} from events where keyed_at > '{mark}'::timestamptz"

    # One query, so that each relation is read once (the relational API's nested relations ran their subplans
    # again: 1.3 s against 0.4 s of CPU at 230k events with nothing changed).
    return events.query(
        "events",
        f"""
        with built as (select * from {dbt.this}),  -- the last build's ranges

        changed as ({changed}),

        touched as (
            select customer_id, purpose, channel from changed
            union  -- the key an event was re-keyed away from
            select customer_id, purpose, channel from built semi join changed using (consent_id)
        ),

        scoped as (
            select {EVENT_COLUMNS} from events semi join touched on {SAME_KEY.format(a="events", b="touched")}
        ),

        fresh as ({ranges_query("scoped", DBT_SAME_INSTANT_WINNER)}),

        -- the last build's ranges of the touched keys: a fresh range equal to one of them is not written again
        replaced as (select * from built semi join touched on {SAME_KEY.format(a="built", b="touched")})

        select *, false as is_removed from (select * from fresh except select * from replaced)
        union all
        select *, true as is_removed from replaced anti join fresh using (consent_id)
        """,
    )
