"""The consent ranges (activation/consent_ranges.py, the dbt model customer_consent_ranges) give the same decisions as
the aggregate over every event, for random histories with same-instant ties, missing statuses and ids, other
purposes and channels, and either same-instant winner."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from activation.consent_ranges import in_force, ranges_query
from activation.decisions import CONSENT_SCHEMA, INPUT_NAMES, decide, decide_on
from activation.rules import Rules
from tests.activation.test_decisions import PROMO, RULES, SEND_AT, granted, inputs, table

_people = st.sampled_from(["a", "b", None])
_status = st.sampled_from(["granted", "withdrawn", None])
_ids = st.sampled_from(["k1", "k2", "k3", "k9", None])
_offsets = st.integers(min_value=-3, max_value=2)  # hours around send time: few instants, many ties
_where = st.sampled_from([("marketing", "email"), ("marketing", "sms")])
_events = st.lists(st.tuples(_people, _status, _ids, _offsets, _where), max_size=30)


def _rules(winner: str) -> Rules:
    return RULES.model_copy(update={"consent": RULES.consent.model_copy(update={"same_instant_winner": winner})})


def _decide_from_ranges(data, winner: str) -> pa.Table:  # type: ignore[no-untyped-def]
    """What an export does: ranges built from the events, the ones in force at send time, the gate as a lookup."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("events", data.consent_events)
    at = "$send_time::timestamptz"
    con.execute(
        f"create table in_force as select customer_id, purpose, channel, status, consent_id, occurred_at "
        f"from ({ranges_query('events', winner)}) r where {in_force('r', at)}",
        {"send_time": SEND_AT},
    )
    for name in INPUT_NAMES:
        if name != "consent_events":
            con.register(name, getattr(data, name))
    con.execute("create view consent_events as select * from in_force")
    rules = _rules(winner)
    return decide_on(con, PROMO, rules, SEND_AT, consent_in_force=True)


@settings(max_examples=150, deadline=None)
@given(events=_events, winner=st.sampled_from(["withdrawn", "granted"]))
def test_ranges_decide_as_the_aggregate(events, winner) -> None:  # type: ignore[no-untyped-def]
    hours = timedelta(hours=1)
    data = inputs(["a", "b", "c", "d"])
    rows = [
        {
            "customer_id": c,
            "purpose": p,
            "channel": ch,
            "status": s,
            "consent_id": k,
            "occurred_at": SEND_AT + o * hours,
        }
        for c, s, k, o, (p, ch) in events
    ]
    data = replace(data, consent_events=table(CONSENT_SCHEMA, rows))
    rules = _rules(winner)
    expected = decide(data, PROMO, rules, SEND_AT).to_pylist()
    assert _decide_from_ranges(data, winner).to_pylist() == expected


def test_one_range_per_instant_and_the_last_open() -> None:
    """A grant and a withdrawal at one instant: only the withdrawal gets a range, up to the next event's time."""
    day = timedelta(days=1)
    # the grant has the higher consent_id (k1): the withdrawal still wins the instant
    data = inputs(
        ["a"], consents=[("a", "withdrawn", SEND_AT - 2 * day), ("a", "granted", SEND_AT - 2 * day), *granted("a")]
    )
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("events", data.consent_events)
    rows = con.sql(
        f"select status, valid_from, valid_to from ({ranges_query('events')}) order by valid_from"
    ).fetchall()
    assert rows == [("granted", SEND_AT - 30 * day, SEND_AT - 2 * day), ("withdrawn", SEND_AT - 2 * day, None)]
