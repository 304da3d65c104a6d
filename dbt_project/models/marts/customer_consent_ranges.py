"""Consent as ranges for activation's gate: per customer, purpose and channel, each consent event in force from
valid_from (its occurred_at) until valid_to (the next event's, null for the latest); of events at one instant only
the winner (a withdrawal, then the highest consent_id) gets a range. The query is activation.consent_ranges', shared
with the tests and the benchmark. Rebuilt from int_consent__events every build (one sort of the consent history).
"""


def model(dbt, session):
    dbt.config(materialized="delta")
    from activation.consent_ranges import DBT_SAME_INSTANT_WINNER, ranges_query

    events = dbt.ref("int_consent__events").project(
        "customer_id, purpose, channel, status, is_granted, consent_id, occurred_at, capture_source, policy_version"
    )
    # Clustered as the consent history (what an export filters on: purpose and channel).
    return events.query(
        "events", ranges_query("events", DBT_SAME_INSTANT_WINNER) + " order by purpose, channel, customer_id"
    )
