"""Explain one customer: every source record in the profile and, for each link, the rule or match weights.

Reads the identity tables with DuckDB (through ``deltalake``), so an explanation takes well under a second and
needs no Spark session. Personal values are masked unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from cdp import lake as tables
from cdp.lake import Lake
from marts.duckdb_delta import lake_connection
from spark_jobs.normalise import normalise_email, normalise_phone
from spark_jobs.rules import IdentityRules


class CustomerNotFound(LookupError):
    pass


@dataclass
class Explanation:
    customer_id: str
    records: list[dict[str, Any]]
    shared_identifiers: list[dict[str, Any]]
    probabilistic_links: list[dict[str, Any]]
    unused_identifiers: list[dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)


def mask(id_type: str, value: str | None) -> str | None:
    """'nguyen.dao@gmail.com' -> 'n***@gmail.com', '+84912345678' -> '+849*****678'."""
    if value is None:
        return None
    if id_type == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if id_type == "phone":
        return value[:4] + "*" * max(0, len(value) - 7) + value[-3:]
    return value


def _connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    # DuckDB's delta_scan, not deltalake's pyarrow dataset: that refuses the tables written with deletion vectors.
    con = lake_connection()
    for name, table in (
        ("identity_map", tables.IDENTITY_MAP),
        ("identifiers", tables.IDENTITY_IDENTIFIERS),
        ("pairs", tables.IDENTITY_MATCH_PAIRS),
        ("history", tables.IDENTITY_MERGE_HISTORY),
    ):
        if lake.exists(table):
            path = lake.uri(table).replace("'", "''")
            con.execute(f"create temp view {name} as select * from delta_scan('{path}')")
        elif table == tables.IDENTITY_MAP:
            raise CustomerNotFound(f"no identity map in {lake.root} yet: run `cdp resolve` first")
    return con


def find_customer(
    lake: Lake, rules: IdentityRules, default_region: str, *, email: str | None, phone: str | None
) -> str:
    """The customer id holding an email or phone (normalised the way the job normalises it)."""
    if email is not None:
        id_type, (value, reason) = "email", normalise_email(email, rules.normalisation)
    elif phone is not None:
        id_type, (value, reason) = "phone", normalise_phone(phone, None, default_region, rules.normalisation)
    else:
        raise ValueError("give a customer id, an email or a phone")
    if value is None:
        raise CustomerNotFound(f"the {id_type} given is not usable for lookup: {reason}")
    con = _connect(lake)
    rows = con.execute(
        "select distinct m.customer_id from identifiers i join identity_map m "
        "on i.source = m.source and i.source_record_id = m.source_record_id "
        "where i.id_type = ? and i.value = ? and i.drop_reason is null",
        [id_type, value],
    ).fetchall()
    if not rows:
        raise CustomerNotFound(f"no customer holds that {id_type}")
    if len(rows) > 1:  # cannot happen for a used identifier; say so rather than pick one
        raise CustomerNotFound(f"{len(rows)} customers hold that {id_type}: {', '.join(r[0] for r in rows)}")
    return str(rows[0][0])


def explain_customer(lake: Lake, customer_id: str, *, show_pii: bool = False) -> Explanation:
    con = _connect(lake)
    records = _dicts(
        con.execute(
            "select source, source_record_id, matched_by, match_probability, observed_at from identity_map "
            "where customer_id = ? order by observed_at, source, source_record_id",
            [customer_id],
        )
    )
    if not records:
        raise CustomerNotFound(f"no customer {customer_id!r} in the identity map")
    con.execute(
        "create temp table members as select source || ':' || source_record_id as record_key from identity_map "
        "where customer_id = ?",
        [customer_id],
    )
    shared = _dicts(
        con.execute(
            "select id_type, value, count(distinct i.record_key) as records, "
            "list(distinct i.source order by i.source) as sources from identifiers i join members using (record_key) "
            "where drop_reason is null group by id_type, value order by records desc, id_type"
        )
    )
    unused = _dicts(
        con.execute(
            "select id_type, value, drop_reason, count(distinct i.record_key) as records from identifiers i "
            "join members using (record_key) where drop_reason is not null group by all order by records desc"
        )
    )
    registered = {r[0] for r in con.execute("show tables").fetchall()}
    links: list[dict[str, Any]] = []
    if "pairs" in registered:
        links = _dicts(
            con.execute(
                "select left_key, right_key, match_probability, match_weight, evidence from pairs "
                "where linked and left_key in (select record_key from members) order by match_weight desc"
            )
        )
    history: list[dict[str, Any]] = []
    if "history" in registered:
        history = _dicts(
            con.execute(
                "select occurred_at, event, customer_id, other_customer_ids, records, rule_version from history "
                "where customer_id = ? or list_contains(other_customer_ids, ?) order by occurred_at",
                [customer_id, customer_id],
            )
        )
    if not show_pii:
        for row in shared + unused:
            row["value"] = mask(row["id_type"], row["value"])
    return Explanation(customer_id, records, shared, links, unused, history)


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
