"""Point-in-time correctness: a training row for (customer, t) gets exactly what was known at t.

Trait history: Ana has snapshots on 1 Jan and 1 Feb 2025, Binh only on 1 Feb. Ana was in ``vip`` from 1 Jan until
she left it on 1 Feb, then entered ``lapsed`` (held out) on 1 Mar.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from feature_store.store import Features, FeatureStoreError
from tests.feature_store.conftest import (
    open_features,
    store_settings,
    ts,
    write_customers,
    write_memberships,
    write_trait_history,
)

ANA, BINH, NOBODY = "cus_00000000000000a1", "cus_00000000000000b2", "cus_00000000000000ff"


@pytest.fixture(scope="module")
def features(module_lake):
    write_trait_history(
        module_lake,
        [
            {"customer_id": ANA, "as_of": ts("2025-01-01"), "frequency": 1, "recency_days": 3.0,
             "monetary_value": 120.5, "value_segment": "new_customers", "p_alive": 1.0, "churn_risk": 0.0,
             "churn_risk_band": "low", "latest_nps": 9, "messages_email_30d": 2, "preferred_channel": "web"},
            {"customer_id": ANA, "as_of": ts("2025-02-01"), "frequency": 3, "recency_days": 10.0,
             "monetary_value": 410.0, "value_segment": "loyal", "p_alive": 0.75, "churn_risk": 0.25,
             "churn_risk_band": "medium", "latest_nps": 4, "messages_email_30d": 7, "preferred_channel": "app"},
            {"customer_id": BINH, "as_of": ts("2025-02-01"), "frequency": 2, "recency_days": 1.0,
             "monetary_value": 99.99, "value_segment": "potential_loyalists", "p_alive": 0.5, "churn_risk": 0.5,
             "churn_risk_band": "high", "latest_nps": None, "messages_email_30d": 0, "preferred_channel": "store"},
        ],
    )  # fmt: skip
    write_customers(
        module_lake,
        [
            {"customer_id": ANA, "first_seen_at": ts("2024-12-30"), "last_seen_at": ts("2025-01-20")},
            {"customer_id": BINH, "first_seen_at": ts("2025-01-25"), "last_seen_at": ts("2025-01-31")},
        ],
    )
    write_memberships(
        module_lake,
        [
            {"audience_name": "vip", "customer_id": ANA, "entered_at": ts("2025-01-01"), "exited_at": ts("2025-02-01")},
            {"audience_name": "lapsed", "customer_id": ANA, "entered_at": ts("2025-03-01"), "is_holdout": True},
            {"audience_name": "vip", "customer_id": BINH, "entered_at": ts("2025-02-01")},
        ],
    )  # fmt: skip
    yield from open_features(store_settings(module_lake, "local"))


@pytest.fixture(scope="module")
def training_set(features: Features) -> pd.DataFrame:
    features.apply()
    features.materialize(ts("2025-03-01"))  # writes the audience history the audience view reads
    entities = pd.DataFrame(
        [
            (ANA, "2024-12-31T23:59:59Z", "before Ana existed"),
            (ANA, "2025-01-01T00:00:00Z", "at Ana's first snapshot"),
            (ANA, "2025-01-15T12:00:00Z", "between Ana's snapshots"),
            (ANA, "2025-02-01T00:00:00Z", "at Ana's second snapshot"),
            (ANA, "2025-06-01T00:00:00Z", "after the last snapshot"),
            (BINH, "2025-01-15T12:00:00Z", "before Binh's first snapshot"),
            (BINH, "2025-02-10T00:00:00Z", "after Binh's snapshot"),
            (NOBODY, "2025-02-10T00:00:00Z", "a customer the lake never had"),
        ],
        columns=["customer_id", "event_timestamp", "label"],
    )
    return features.historical(entities, "churn_v1")


def _value(frame: pd.DataFrame, label: str, column: str):
    value = frame.loc[frame["label"] == label, column].item()
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@pytest.mark.parametrize(
    ("label", "frequency", "segment_p_alive", "nps", "emails_30d", "channel"),
    [
        ("before Ana existed", None, None, None, None, None),
        ("at Ana's first snapshot", 1, 1.0, 9, 2, "web"),
        ("between Ana's snapshots", 1, 1.0, 9, 2, "web"),
        ("at Ana's second snapshot", 3, 0.75, 4, 7, "app"),
        ("after the last snapshot", 3, 0.75, 4, 7, "app"),
        ("before Binh's first snapshot", None, None, None, None, None),
        ("after Binh's snapshot", 2, 0.5, None, 0, "store"),
        ("a customer the lake never had", None, None, None, None, None),
    ],
)
def test_each_row_gets_the_values_known_at_its_time(
    training_set, label, frequency, segment_p_alive, nps, emails_30d, channel
):
    assert _value(training_set, label, "frequency") == frequency
    assert _value(training_set, label, "p_alive") == segment_p_alive
    assert _value(training_set, label, "latest_nps") == nps
    assert _value(training_set, label, "messages_email_30d") == emails_30d
    assert _value(training_set, label, "preferred_channel") == channel


def test_decimal_amounts_come_back_exact(training_set):
    assert float(_value(training_set, "between Ana's snapshots", "monetary_value")) == 120.5
    assert float(_value(training_set, "after Binh's snapshot", "monetary_value")) == 99.99


def test_rows_keep_their_order_and_extra_columns(training_set):
    assert list(training_set["label"]) == [
        "before Ana existed",
        "at Ana's first snapshot",
        "between Ana's snapshots",
        "at Ana's second snapshot",
        "after the last snapshot",
        "before Binh's first snapshot",
        "after Binh's snapshot",
        "a customer the lake never had",
    ]


def test_audiences_in_force_at_each_time(features: Features):
    entities = pd.DataFrame(
        [
            (ANA, "2024-12-31T00:00:00Z"),
            (ANA, "2025-01-15T00:00:00Z"),
            (ANA, "2025-02-15T00:00:00Z"),
            (ANA, "2025-03-05T00:00:00Z"),
            (BINH, "2025-02-15T00:00:00Z"),
        ],
        columns=["customer_id", "event_timestamp"],
    )
    result = features.historical(entities, "personalisation_v1")
    audiences = [None if v is None else list(v) for v in result["audiences"]]
    holdouts = [None if v is None else list(v) for v in result["holdout_audiences"]]
    assert audiences == [None, ["vip"], [], [], ["vip"]]
    assert holdouts == [None, [], [], ["lapsed"], []]


def test_unknown_service_and_missing_columns_are_clear(features: Features):
    rows = pd.DataFrame({"customer_id": [ANA], "event_timestamp": ["2025-01-02T00:00:00Z"]})
    with pytest.raises(FeatureStoreError, match="no feature service 'churn_v9'; known: churn_v1, personalisation_v1"):
        features.historical(rows, "churn_v9")
    with pytest.raises(FeatureStoreError, match="event_timestamp"):
        features.historical(rows.drop(columns="event_timestamp"), "churn_v1")
