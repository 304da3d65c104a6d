"""Consent as ranges: per customer, purpose and channel, each event in force from its time until the next event's.

The dbt model ``customer_consent_ranges`` builds them once per build from the consent history, so an export's
consent gate is a filtered scan (``valid_from <= send time < valid_to``, at most one row per person) instead of an
aggregate over every event (:mod:`activation.decisions`). The same query is used here by the tests and by the
benchmark's synthetic lake, so there is one definition.

Of several events at the same instant only the one the gate would pick gets a range: the configured winner
(``rules.yaml`` consent.same_instant_winner; the dbt model uses ``withdrawn``, the default), then the highest
consent_id; a missing status loses. ``valid_to`` is null for the latest event (in force until another arrives).
"""

from __future__ import annotations

# The statuses the dbt model ranks first on a same-instant tie (an export with another winner reads the events).
DBT_SAME_INSTANT_WINNER = "withdrawn"


def ranges_query(events: str, winner: str = DBT_SAME_INSTANT_WINNER) -> str:
    """SQL over the relation ``events`` (customer_id, purpose, channel, status, consent_id, occurred_at and any other
    columns, passed through) giving one row per winning event with ``valid_from`` and ``valid_to``.

    One sort: events in gate order within each customer, purpose and channel; the last event of an instant is its
    winner, and the next row's time (a later instant) ends its range.
    """
    tie = f"case when status = {_lit(winner)} then 2 when status is not null then 1 else 0 end"
    return f"""
    select * exclude (next_at), occurred_at as valid_from, next_at as valid_to
    from (
        select *, lead(occurred_at) over (
            partition by customer_id, purpose, channel
            order by occurred_at, {tie}, coalesce(consent_id, '')
        ) as next_at
        from {events}
        where occurred_at is not null
    )
    where next_at is null or next_at > occurred_at
    """


def in_force(ranges: str, at: str) -> str:
    """The SQL condition: a range of ``ranges`` in force at the SQL timestamp expression ``at``."""
    return f"{ranges}.valid_from <= {at} and ({ranges}.valid_to is null or {ranges}.valid_to > {at})"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
