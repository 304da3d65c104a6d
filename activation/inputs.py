"""Read one export's decision inputs from the lake (DuckDB over the Delta tables, nothing written).

Consent events and the contact history come from ``gold.customer_consent_ranges`` (or
``gold.customer_consent_history``) and ``gold.customer_contact_history``: every event and message already resolved
to its customer by the last build, so an export reads them by customer instead of joining bronze to the identity map
each time. The consent gate still takes the event in force at the export's send time (those marts hold the whole
history, not a state as of the build): from the ranges, the one range per person holding send time (a filtered
scan); from the history, when the ranges are missing or the rules' same-instant winner is not the one the ranges
were built with, the latest event by an aggregate. Events ingested after the last build are not seen until the next
one (`cdp run` builds before it exports).
This platform's own earlier sends of other audiences come from ``audit.activation_deliveries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from activation.consent_ranges import DBT_SAME_INSTANT_WINNER, in_force
from activation.decisions import (
    Audience,
)
from activation.rules import Rules
from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.duckdb_delta import lake_connection


class AudienceNotFound(LookupError):
    pass


class LakeNotReady(LookupError):
    pass


PAYLOAD_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
    ]
)


@dataclass
class LakeInputs:
    """The audience and a DuckDB connection holding the decision inputs as relations named as in
    ``activation.decisions.INPUT_NAMES`` (for :func:`activation.decisions.decide_on`), plus the lake's tables."""

    audience: Audience
    con: duckdb.DuckDBPyConnection
    consent_in_force: bool = False  # consent_events holds only the ranges in force at send time (decision_query)


def _scan(lake: Lake, table: Table) -> str:
    return "delta_scan('" + lake.uri(table).replace("'", "''") + "')"


def _view(con: duckdb.DuckDBPyConnection, lake: Lake, name: str, table: Table, empty_sql: str | None = None) -> None:
    # DuckDB's own Delta reader (delta_scan): parallel, with projections and filters pushed into the Parquet scan;
    # about 3x faster here than a view over deltalake's Arrow dataset (Python scanner), and it reads files that
    # deltalake's DELETE (`cdp erase`) rewrote with Arrow string views, which the Arrow scanner cannot filter.
    # Temp views: the database is the process's (lake_connection), so another export's views must not replace these.
    if lake.exists(table):
        con.execute(f"create or replace temp view {name} as select * from {_scan(lake, table)}")
    elif empty_sql is not None:
        con.execute(f"create or replace temp view {name} as {empty_sql}")
    else:
        raise LakeNotReady(f"{table} does not exist in {lake.root}: run `cdp run` (or `cdp build`) first")


def find_audience(con: duckdb.DuckDBPyConnection, name: str) -> Audience:
    row = con.execute("select name, purpose, channel, priority from audiences where name = ?", [name]).fetchone()
    if row is None:
        names = [r[0] for r in con.execute("select name from audiences order by 1").fetchall()]
        raise AudienceNotFound(f"no audience {name!r}; audiences: {', '.join(names) or 'none'}")
    return Audience(str(row[0]), str(row[1]), str(row[2]), int(row[3]))


def load_inputs(
    lake: Lake, rules: Rules, audience_name: str, send_time: datetime, customer_id: str | None = None
) -> LakeInputs:
    con = lake_connection()  # one per export: its temp views are its own
    _view(con, lake, "audiences", layout.AUDIENCES)
    _view(con, lake, "memberships_all", layout.AUDIENCE_MEMBERSHIPS)
    _view(con, lake, "customers", layout.CUSTOMERS)
    _view(con, lake, "traits", layout.CUSTOMER_TRAITS)
    # The ranges answer the gate by a filter when they were resolved with this rules file's same-instant winner.
    consent_in_force = rules.consent.same_instant_winner == DBT_SAME_INSTANT_WINNER and lake.exists(
        layout.CUSTOMER_CONSENT_RANGES
    )
    consent = layout.CUSTOMER_CONSENT_RANGES if consent_in_force else layout.CUSTOMER_CONSENT_HISTORY
    _view(con, lake, "consent_history", consent)
    _view(con, lake, "contact_history", layout.CUSTOMER_CONTACT_HISTORY)
    _view(
        con,
        lake,
        "deliveries",
        layout.ACTIVATION_DELIVERIES,
        "select null::varchar sync_id, null::varchar audience_name, null::varchar destination, null::varchar purpose, "
        "null::varchar channel, null::varchar customer_id, null::varchar op, null::varchar row_hash, "
        "null::varchar batch_key, null::timestamptz delivered_at where false",
    )
    audience = find_audience(con, audience_name)
    only = "and customer_id = $customer_id" if customer_id is not None else ""
    # Current memberships of every audience, read once: the members and the priority check both use them.
    con.execute(
        "create temp table current_memberships as select customer_id, audience_name, is_holdout "
        f"from memberships_all where exited_at is null {only}",
        {"customer_id": customer_id} if customer_id is not None else {},
    )
    con.execute(
        "create temp table members as select customer_id, bool_or(is_holdout) as is_holdout "
        "from current_memberships where audience_name = $audience group by customer_id",
        {"audience": audience.name},
    )
    # Every event is keyed by customer and the engine left-joins the members to each input, so a whole-audience
    # export reads the inputs unfiltered (a semi-join with 1M members cost more than it saved); `explain` of one
    # person keeps the filter.
    of_members = "customer_id in (select customer_id from members)" if customer_id is not None else "true"
    channel, purpose, name = _lit(audience.channel), _lit(audience.purpose), _lit(audience.name)
    at = f"'{send_time.astimezone(UTC).isoformat()}'::timestamptz"
    # Only the longest cap window on this channel matters for the contact history.
    window = max((c.days for c in rules.frequency_caps if c.channel == audience.channel), default=0)
    con.execute(
        "create temp view memberships as "
        "select m.customer_id, m.audience_name, a.channel, a.priority::bigint as priority "
        "from current_memberships m join audiences a on a.name = m.audience_name "
        f"where not m.is_holdout and a.channel = {channel}"
    )
    current = f"and {in_force('consent_history', at)} " if consent_in_force else ""
    con.execute(
        "create temp view consent_events as "
        "select customer_id, purpose, channel, status, consent_id, occurred_at::timestamptz as occurred_at "
        f"from consent_history where purpose = {purpose} and channel = {channel} {current}and {of_members}"
    )
    con.execute(
        "create temp view contacts as "
        "select customer_id, channel, purpose, sent_at::timestamptz as sent_at from contact_history "
        f"where channel = {channel} and sent_at <= {at} and sent_at > {at} - interval '{window} days' "
        f"and {of_members} "
        "union all "
        # This platform's own sends: one message per person per audience and day (a re-sync is not a message).
        "select customer_id, channel, purpose, min(delivered_at) from deliveries "
        f"where op = 'upsert' and channel = {channel} and audience_name <> {name} and delivered_at <= {at} "
        f"and delivered_at > {at} - interval '{window} days' "
        f"and {of_members} "
        "group by customer_id, channel, purpose, audience_name, date_trunc('day', delivered_at)"
    )
    # One row per customer of either table (both keyed by customer_id): the engine left-joins the members to it, so
    # joining the members here as well was one more 1M-row join (about 0.3 s of CPU at 1M members).
    con.execute(
        "create temp view profiles as "
        "select customer_id, c.country, t.age_band, t.gender, t.preferred_category, "
        "t.open_cases::bigint as open_cases, t.is_recent_detractor "
        f"from (select * from customers where {of_members}) c "
        f"full join (select * from traits where {of_members}) t using (customer_id)"
    )
    return LakeInputs(audience, con, consent_in_force)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
