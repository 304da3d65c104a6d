"""Read one export's decision inputs from the lake (DuckDB over the Delta tables, nothing written).

Consent events and the contact history come from ``gold.customer_consent_history`` and
``gold.customer_contact_history``: every event and message already resolved to its customer by the last build, so an
export reads them by customer instead of joining bronze to the identity map each time. The consent gate still
takes the event in force at the export's send time (those marts hold the whole history, not a state as of the
build); events ingested after the last build are not seen until the next one (`cdp run` builds before it exports).
This platform's own earlier sends of other audiences come from ``audit.activation_deliveries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from activation.decisions import (
    Audience,
)
from activation.rules import Rules
from cdp import lake as layout
from cdp.lake import Lake, Table
from marts.duckdb_delta import load_delta_extension


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


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    load_delta_extension(con)
    return con


def _scan(lake: Lake, table: Table) -> str:
    return "delta_scan('" + lake.uri(table).replace("'", "''") + "')"


def _has_view_types(dt: DeltaTable) -> bool:
    """Whether a file of the table stores strings or binaries as Arrow views (deltalake's DELETE, as run by
    `cdp erase`, rewrites files that way): Arrow's dataset scanner cannot compare a view column with a filter's
    string, so DuckDB's pushed-down filters would fail on such a table. Reads the files' footers only."""
    for uri in dt.file_uris():
        for f in pq.read_schema(uri):
            if pa.types.is_string_view(f.type) or pa.types.is_binary_view(f.type):
                return True
    return False


def _view(con: duckdb.DuckDBPyConnection, lake: Lake, name: str, table: Table, empty_sql: str | None = None) -> None:
    if lake.exists(table):
        dt = DeltaTable(lake.uri(table))
        if _has_view_types(dt):
            con.execute(f"create or replace view {name} as select * from {_scan(lake, table)}")
            return
        # An Arrow dataset over the table's current files: DuckDB pushes projections and filters into it, and it
        # joins faster here than the Delta extension's delta_scan.
        con.register(f"{name}_files", dt.to_pyarrow_dataset())
        con.execute(f"create or replace view {name} as select * from {name}_files")
    elif empty_sql is not None:
        con.execute(f"create or replace view {name} as {empty_sql}")
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
    con = connect(lake)
    _view(con, lake, "audiences", layout.AUDIENCES)
    _view(con, lake, "memberships_all", layout.AUDIENCE_MEMBERSHIPS)
    _view(con, lake, "customers", layout.CUSTOMERS)
    _view(con, lake, "traits", layout.CUSTOMER_TRAITS)
    _view(con, lake, "consent_history", layout.CUSTOMER_CONSENT_HISTORY)
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
    con.execute(
        "create temp table members as select customer_id, bool_or(is_holdout) as is_holdout from memberships_all "
        f"where audience_name = $audience and exited_at is null {only} group by customer_id",
        {"audience": audience.name, **({"customer_id": customer_id} if customer_id is not None else {})},
    )
    channel, purpose, name = _lit(audience.channel), _lit(audience.purpose), _lit(audience.name)
    at = f"'{send_time.astimezone(UTC).isoformat()}'::timestamptz"
    # Only the longest cap window on this channel matters for the contact history.
    window = max((c.days for c in rules.frequency_caps if c.channel == audience.channel), default=0)
    con.execute(
        "create temp view memberships as "
        "select m.customer_id, m.audience_name, a.channel, a.priority::bigint as priority "
        "from memberships_all m join audiences a on a.name = m.audience_name "
        f"where m.exited_at is null and not m.is_holdout and a.channel = {channel} "
        "and m.customer_id in (select customer_id from members)"
    )
    con.execute(
        "create temp view consent_events as "
        "select customer_id, purpose, channel, status, consent_id, occurred_at::timestamptz as occurred_at "
        f"from consent_history where purpose = {purpose} and channel = {channel} "
        "and customer_id in (select customer_id from members)"
    )
    con.execute(
        "create temp view contacts as "
        "select customer_id, channel, purpose, sent_at::timestamptz as sent_at from contact_history "
        f"where channel = {channel} and sent_at <= {at} and sent_at > {at} - interval '{window} days' "
        "and customer_id in (select customer_id from members) "
        "union all "
        # This platform's own sends: one message per person per audience and day (a re-sync is not a message).
        "select customer_id, channel, purpose, min(delivered_at) from deliveries "
        f"where op = 'upsert' and channel = {channel} and audience_name <> {name} and delivered_at <= {at} "
        f"and delivered_at > {at} - interval '{window} days' "
        "and customer_id in (select customer_id from members) "
        "group by customer_id, channel, purpose, audience_name, date_trunc('day', delivered_at)"
    )
    con.execute(
        "create temp view profiles as "
        "select m.customer_id, c.country, t.age_band, t.gender, t.preferred_category, "
        "t.open_cases::bigint as open_cases, t.is_recent_detractor "
        "from members m left join customers c using (customer_id) left join traits t using (customer_id)"
    )
    return LakeInputs(audience, con)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def payload(con: duckdb.DuckDBPyConnection, customer_ids: pa.Table) -> pa.Table:
    """Identifiers and names of the people to send (gold.customers), in ``customer_ids``'s order."""
    con.register("to_send", customer_ids)
    return (
        con.sql(
            "select s.customer_id, c.email, c.phone, c.first_name, c.last_name "
            "from to_send s left join customers c using (customer_id) order by s.customer_id"
        )
        .to_arrow_table()
        .cast(PAYLOAD_SCHEMA)
    )
