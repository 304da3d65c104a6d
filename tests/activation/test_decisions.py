"""The decision engine on tiny inline tables, and its guarantees under random consent and contact histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from activation.decisions import (
    CONSENT_SCHEMA,
    CONTACTS_SCHEMA,
    MEMBERS_SCHEMA,
    MEMBERSHIPS_SCHEMA,
    PROFILES_SCHEMA,
    SEND,
    Audience,
    DecisionInputs,
    decide,
)
from activation.rules import RULES_PATH, Relevance, load_rules

RULES = load_rules(RULES_PATH)
# 03:00 UTC is 10:00 in Ho Chi Minh City: outside quiet hours for the default zone.
SEND_AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
PROMO = Audience("spring_sale", "marketing", "email", 10)


def table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def inputs(
    members: list[str],
    consents: list[tuple[str, str, datetime]] = (),  # type: ignore[assignment]
    contacts: list[tuple[str, str, datetime]] = (),  # type: ignore[assignment]
    profiles: list[dict[str, Any]] = (),  # type: ignore[assignment]
    memberships: list[tuple[str, str, int]] = (),  # type: ignore[assignment]
    holdout: frozenset[str] = frozenset(),
) -> DecisionInputs:
    return DecisionInputs(
        members=table(MEMBERS_SCHEMA, [{"customer_id": c, "is_holdout": c in holdout} for c in members]),
        consent_events=table(
            CONSENT_SCHEMA,
            [
                {
                    "customer_id": c,
                    "purpose": "marketing",
                    "channel": "email",
                    "status": s,
                    "consent_id": f"k{i}",
                    "occurred_at": at,
                }
                for i, (c, s, at) in enumerate(consents)
            ],
        ),
        contacts=table(
            CONTACTS_SCHEMA,
            [{"customer_id": c, "channel": "email", "purpose": p, "sent_at": at} for c, p, at in contacts],
        ),
        profiles=table(PROFILES_SCHEMA, list(profiles)),
        memberships=table(
            MEMBERSHIPS_SCHEMA,
            [{"customer_id": c, "audience_name": a, "channel": "email", "priority": p} for c, a, p in memberships],
        ),
    )


def by_customer(result: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["customer_id"]: row for row in result.to_pylist()}


def granted(*customers: str) -> list[tuple[str, str, datetime]]:
    return [(c, "granted", SEND_AT - timedelta(days=30)) for c in customers]


def test_consent_gate_latest_event_as_of_send_time() -> None:
    day = timedelta(days=1)
    out = by_customer(
        decide(
            inputs(
                ["none", "granted", "withdrawn", "regranted", "future", "same_second", "out_of_order"],
                consents=[
                    ("granted", "granted", SEND_AT - day),
                    ("withdrawn", "granted", SEND_AT - 2 * day),
                    ("withdrawn", "withdrawn", SEND_AT - day),
                    ("regranted", "withdrawn", SEND_AT - 2 * day),
                    ("regranted", "granted", SEND_AT - day),
                    ("future", "granted", SEND_AT + day),  # not yet given at send time
                    ("same_second", "granted", SEND_AT - day),
                    ("same_second", "withdrawn", SEND_AT - day),
                    # listed (arrived) last but happened first: the withdrawal that happened later wins
                    ("out_of_order", "withdrawn", SEND_AT - day),
                    ("out_of_order", "granted", SEND_AT - 3 * day),
                ],
            ),
            PROMO,
            RULES,
            SEND_AT,
        )
    )
    assert {c: r["reason"] for c, r in out.items()} == {
        "none": "no_consent",
        "granted": "eligible",
        "withdrawn": "consent_withdrawn",
        "regranted": "eligible",
        "future": "no_consent",
        "same_second": "consent_withdrawn",
        "out_of_order": "consent_withdrawn",
    }
    assert out["granted"]["consent_id"] == "k0"
    assert out["granted"]["decision"] == SEND


def test_holdout_care_relevance_and_priority() -> None:
    people = ["held", "case", "detractor", "teen", "unknown_age", "in_better", "ok"]
    profiles = [
        {"customer_id": "case", "open_cases": 1},
        {"customer_id": "detractor", "is_recent_detractor": True},
        {"customer_id": "teen", "age_band": "18_24"},
        {"customer_id": "ok", "age_band": "35_44"},
        {"customer_id": "in_better", "age_band": "35_44"},
        {"customer_id": "held", "age_band": "35_44"},
    ]
    rules = RULES.model_copy(update={"campaigns": {"spring_sale": Relevance(age_bands=("35_44", "45_54"))}})
    out = by_customer(
        decide(
            inputs(
                people,
                consents=granted(*people),
                profiles=profiles,
                memberships=[("in_better", "vip", 5), ("ok", "lower", 50), ("ok", "spring_sale", 10)],
                holdout=frozenset({"held"}),
            ),
            PROMO,
            rules,
            SEND_AT,
        )
    )
    assert {c: r["reason"] for c, r in out.items()} == {
        "held": "holdout",
        "case": "care:open_case",
        "detractor": "care:recent_detractor",
        "teen": "not_relevant:age_band",
        "unknown_age": "not_relevant:age_band",
        "in_better": "higher_priority_audience",
        "ok": "eligible",
    }
    assert out["in_better"]["better_audience"] == "vip"


def test_care_rules_do_not_hold_out_non_promotional_purposes() -> None:
    audience = Audience("service_notice", "personalisation", "email", 10)
    data = inputs(["case"], profiles=[{"customer_id": "case", "open_cases": 2}])
    data = DecisionInputs(
        members=data.members,
        consent_events=table(
            CONSENT_SCHEMA,
            [
                {
                    "customer_id": "case",
                    "purpose": "personalisation",
                    "channel": "email",
                    "status": "granted",
                    "consent_id": "k",
                    "occurred_at": SEND_AT - timedelta(days=1),
                }
            ],
        ),
        contacts=data.contacts,
        profiles=data.profiles,
        memberships=data.memberships,
    )
    assert decide(data, audience, RULES, SEND_AT).column("reason").to_pylist() == ["eligible"]


def test_person_in_three_audiences_on_one_channel_goes_only_to_the_highest_priority() -> None:
    memberships = [("p", "a_first", 10), ("p", "b_second", 20), ("p", "c_third", 30)]
    data = inputs(["p"], consents=granted("p"), memberships=memberships)
    sent = [
        name
        for name, priority in (("a_first", 10), ("b_second", 20), ("c_third", 30))
        if decide(data, Audience(name, "marketing", "email", priority), RULES, SEND_AT).column("decision")[0].as_py()
        == SEND
    ]
    assert sent == ["a_first"]


def test_quiet_hours_in_the_persons_time_zone() -> None:
    # 14:30 UTC: 21:30 in Ho Chi Minh City (quiet), 15:30 in Paris and 09:30 in New York (not quiet).
    at = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    profiles = [
        {"customer_id": "vn", "country": "VN"},
        {"customer_id": "fr", "country": "FR"},
        {"customer_id": "us", "country": "US"},
        {"customer_id": "nowhere", "country": None},
    ]
    out = by_customer(
        decide(
            inputs(["vn", "fr", "us", "nowhere"], granted("vn", "fr", "us", "nowhere"), profiles=profiles),
            PROMO,
            RULES,
            at,
        )
    )
    assert {c: r["reason"] for c, r in out.items()} == {
        "vn": "quiet_hours",
        "fr": "eligible",
        "us": "eligible",
        "nowhere": "quiet_hours",  # the default zone is Asia/Ho_Chi_Minh
    }


def test_frequency_cap_counts_the_window_and_matching_purposes_only() -> None:
    day = timedelta(days=1)
    contacts = [
        ("two_recent", "marketing", SEND_AT - day),
        ("two_recent", "personalisation", SEND_AT - 2 * day),
        ("one_recent_one_old", "marketing", SEND_AT - day),
        ("one_recent_one_old", "marketing", SEND_AT - 8 * day),
        ("transactional", "transactional", SEND_AT - day),
        ("transactional", "transactional", SEND_AT - day),
    ]
    people = ["two_recent", "one_recent_one_old", "transactional"]
    out = by_customer(decide(inputs(people, granted(*people), contacts=contacts), PROMO, RULES, SEND_AT))
    assert out["two_recent"]["reason"] == "frequency_cap:marketing_email_7d"
    assert (out["two_recent"]["cap_count"], out["two_recent"]["cap_limit"]) == (2, 2)
    assert out["one_recent_one_old"]["reason"] == "eligible"
    assert out["one_recent_one_old"]["cap_count"] == 1
    assert out["transactional"]["reason"] == "eligible"


# Property: for random consent and contact histories, no person decided `send` lacks a valid grant at send time,
# and no cap would be exceeded by the send.
_people = st.sampled_from(["a", "b", "c", "d"])
_offsets = st.integers(min_value=-20 * 24, max_value=48)  # hours relative to send time
_consents = st.lists(st.tuples(_people, st.sampled_from(["granted", "withdrawn"]), _offsets), max_size=25)
_contacts = st.lists(
    st.tuples(_people, st.sampled_from(["marketing", "personalisation", "transactional"]), _offsets), max_size=25
)


@settings(max_examples=60, deadline=None)
@given(consents=_consents, contacts=_contacts)
def test_no_send_without_grant_and_no_cap_exceeded(
    consents: list[tuple[str, str, int]], contacts: list[tuple[str, str, int]]
) -> None:
    hours = timedelta(hours=1)
    data = inputs(
        ["a", "b", "c", "d"],
        consents=[(c, s, SEND_AT + o * hours) for c, s, o in consents],
        contacts=[(c, p, SEND_AT + o * hours) for c, p, o in contacts],
    )
    result = decide(data, PROMO, RULES, SEND_AT)
    assert result.num_rows == 4
    cap = RULES.caps_for("marketing", "email")[0]
    for row in result.to_pylist():
        if row["decision"] != SEND:
            continue
        person = row["customer_id"]
        past = [(o, s) for c, s, o in consents if c == person and o <= 0]
        assert past, "sent without any consent event"
        latest = max(o for o, _ in past)
        assert {s for o, s in past if o == latest} == {"granted"}, "latest consent at send time is not a grant"
        in_window = [o for c, p, o in contacts if c == person and p in cap.purposes and -cap.days * 24 < o <= 0]
        assert len(in_window) + 1 <= cap.max_messages
