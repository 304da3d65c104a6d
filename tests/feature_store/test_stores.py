"""Materialisation and online reads on the real stores: SQLite + file registry, Redis + SQL registry in Postgres.

Each build appends a trait snapshot; materialisation loads only what changed since the last one, up to the build's
as_of, and the online store then serves the latest values.
"""

from __future__ import annotations

import time

import pytest

from feature_store.store import EPOCH, Features
from tests.feature_store.conftest import (
    open_features,
    store_settings,
    ts,
    write_customers,
    write_memberships,
    write_trait_history,
)

ANA, BINH = "cus_00000000000000a1", "cus_00000000000000b2"
T1, T2 = ts("2025-01-01"), ts("2025-02-01")


@pytest.fixture(scope="module", params=["local", "prod"])
def features(request, module_lake):
    lake = module_lake.root.parent / request.param
    from cdp.lake import Lake

    the_lake = Lake(lake)
    write_trait_history(
        the_lake, [{"customer_id": ANA, "as_of": T1, "frequency": 1, "value_segment": "new_customers", "p_alive": 1.0}]
    )
    write_customers(
        the_lake,
        [{"customer_id": ANA, "first_name": "Ana", "email": "ana@example.com", "last_seen_at": ts("2024-12-30")}],
    )
    write_memberships(the_lake, [{"audience_name": "vip", "customer_id": ANA, "entered_at": T1}])
    yield from open_features(store_settings(the_lake, request.param))


def _online(features: Features, *customer_ids: str) -> dict:
    return features.online(list(customer_ids), service="personalisation_v1").to_dict()


def test_first_materialisation_loads_the_whole_history_up_to_as_of(features: Features):
    features.apply()
    report = features.materialize(T1)

    assert set(report.views.values()) == {(EPOCH, T1)}
    assert set(features.materialized_until().values()) == {T1}
    online = _online(features, ANA, BINH)
    assert online["frequency"] == [1, None]
    assert online["value_segment"] == ["new_customers", None]
    assert online["audiences"] == [["vip"], None]


def test_next_build_is_loaded_incrementally(features: Features):
    write_trait_history(
        features.lake,
        [
            {"customer_id": ANA, "as_of": T2, "frequency": 4, "value_segment": "loyal", "p_alive": 0.5},
            {"customer_id": BINH, "as_of": T2, "frequency": 1, "value_segment": "new_customers", "p_alive": 1.0},
        ],
        mode="append",
    )
    report = features.materialize(T2)

    assert set(report.views.values()) == {(T1, T2)}
    online = _online(features, ANA, BINH)
    assert online["frequency"] == [4, 1]
    assert online["value_segment"] == ["loyal", "new_customers"]
    assert online["p_alive"] == [0.5, 1.0]


def test_materialising_an_as_of_already_loaded_changes_nothing(features: Features):
    features.materialize(T1)  # an older as_of: skipped, the store never goes back

    assert set(features.materialized_until().values()) == {T2}
    assert _online(features, ANA)["frequency"] == [4]


def test_apply_is_idempotent(features: Features):
    names = features.apply()

    assert {"customer", "customer_rfm", "customer_audiences", "personalisation_v1", "churn_v1"} <= set(names)
    assert features.service_names() == ["churn_v1", "personalisation_v1"]
    assert _online(features, ANA)["frequency"] == [4]


def test_forget_removes_a_customer_from_the_online_store(features: Features):
    assert _online(features, ANA, BINH)["frequency"] == [4, 1]

    removed = features.forget([ANA])

    assert removed > 0
    online = _online(features, ANA, BINH)
    assert online["frequency"] == [None, 1]
    assert online["audiences"] == [None, None]
    assert features.online([ANA], features=["customer_profile:email"]).to_dict()["email"] == [None]
    assert features.forget([]) == 0


def test_a_serving_store_sees_registry_changes_through_its_background_refresh(features: Features):
    """The API's store never re-reads the registry inside a read: a service applied by another process appears once the
    background refresh has run (without it, the cached registry would never show it)."""
    from feast import FeatureService
    from feast.errors import FeatureServiceNotFoundException

    serving = Features(features.settings, serving=True, registry_refresh_seconds=0.2)
    try:
        assert serving.online([BINH], service="personalisation_v1").to_dict()["frequency"] == [1]
        rfm = features.store.get_feature_view("customer_rfm")
        features.store.apply([FeatureService(name="probe_v1", features=[rfm[["frequency"]]])])
        deadline = time.monotonic() + 60  # a bound on the wait, not a latency figure
        while True:
            try:
                serving.store.get_feature_service("probe_v1", allow_cache=True)  # the cached registry only
                break
            except FeatureServiceNotFoundException:
                assert time.monotonic() < deadline, "the serving store never saw the new feature service"
                time.sleep(0.1)
        assert serving.online([BINH], service="probe_v1").to_dict() == {"customer_id": [BINH], "frequency": [1]}
    finally:
        serving.close()
        features.store.delete_feature_service("probe_v1")
