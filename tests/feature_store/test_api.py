"""The profile API on real stores (SQLite + file registry; Redis + Postgres registry), through FastAPI's client.

Ana is a loyal customer in ``vip`` (held out of ``lapsed``) who consented to personalised email; Binh shares a family
email with Chi, a second customer; the lake knows nobody else.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cdp.lake import Lake
from feature_store.api import create_app
from feature_store.auth import digest
from feature_store.store import Features
from tests.feature_store.conftest import (
    open_features,
    store_settings,
    ts,
    write_customers,
    write_identity,
    write_memberships,
    write_trait_history,
)

ANA, BINH, CHI, NOBODY = "cus_00000000000000a1", "cus_00000000000000b2", "cus_00000000000000c3", "cus_00000000000000ff"
AS_OF = ts("2025-02-01")
KEYS = {"profiles": ["profiles:read"], "pii": ["profiles:read", "pii:read"], "features": ["features:read"]}


def key(name: str) -> dict[str, str]:
    return {"X-API-Key": f"key-{name}"}


def write_lake(lake: Lake) -> None:
    write_trait_history(
        lake,
        [
            {"customer_id": ANA, "as_of": AS_OF, "frequency": 4, "monetary_value": 410.0, "value_segment": "loyal",
             "p_alive": 0.75, "churn_risk": 0.25, "churn_risk_band": "medium", "nps_category": "promoter",
             "consent_personalisation_email": True, "consent_marketing_sms": False, "messages_email_7d": 2},
            {"customer_id": BINH, "as_of": AS_OF, "frequency": 1, "value_segment": "new_customers"},
            {"customer_id": CHI, "as_of": AS_OF, "frequency": 2, "value_segment": "potential_loyalists"},
        ],
    )  # fmt: skip
    write_customers(
        lake,
        [
            {"customer_id": ANA, "first_name": "Ana", "email": "ana@example.com", "phone": "+84912345678",
             "last_seen_at": ts("2025-01-20")},
            {"customer_id": BINH, "first_name": "Binh", "last_seen_at": ts("2025-01-20")},
            {"customer_id": CHI, "first_name": "Chi", "last_seen_at": ts("2025-01-20")},
        ],
    )  # fmt: skip
    write_memberships(
        lake,
        [
            {"audience_name": "vip", "customer_id": ANA, "entered_at": ts("2025-01-01")},
            {"audience_name": "lapsed", "customer_id": ANA, "entered_at": ts("2025-01-01"), "is_holdout": True},
        ],
    )
    write_identity(
        lake,
        [
            (ANA, "r1", "email", "ana@example.com"),
            (ANA, "r2", "phone", "+84912345678"),
            (BINH, "r3", "email", "family@example.com"),
            (CHI, "r4", "email", "family@example.com"),
        ],
    )


@pytest.fixture(scope="module", params=["local", "prod"])
def client(request, tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp(f"api_{request.param}") / "lake")
    write_lake(lake)
    settings = store_settings(lake, request.param, api_keys={digest(f"key-{n}"): s for n, s in KEYS.items()})
    for features in open_features(settings):
        features.apply()
        features.materialize(AS_OF)
        with TestClient(create_app(settings, features)) as test_client:
            yield test_client


def test_profile_has_traits_audiences_and_consent_without_pii(client):
    response = client.get(f"/v1/profiles/{ANA}", headers=key("profiles"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == ANA
    assert body["traits"]["value_segment"] == "loyal"
    assert body["traits"]["frequency"] == 4
    assert body["traits"]["monetary_value"] == 410.0
    assert body["traits"]["churn_risk_band"] == "medium"
    assert body["traits"]["messages_email_7d"] == 2
    assert body["audiences"] == ["vip"]
    assert body["holdout_audiences"] == ["lapsed"]
    assert body["consent"]["personalisation"]["email"] is True
    assert body["consent"]["marketing"]["sms"] is False
    assert "pii" not in body and "email" not in body["traits"]


def test_pii_only_for_keys_with_the_pii_scope(client):
    allowed = client.get(f"/v1/profiles/{ANA}", params={"include_pii": "true"}, headers=key("pii"))
    refused = client.get(f"/v1/profiles/{ANA}", params={"include_pii": "true"}, headers=key("profiles"))

    assert allowed.status_code == 200
    assert allowed.json()["pii"]["email"] == "ana@example.com"
    assert allowed.json()["pii"]["first_name"] == "Ana"
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "insufficient_scope",
        "message": "include_pii=true needs the pii:read scope",
        "required_scope": "pii:read",
    }


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        (f"/v1/profiles/{NOBODY}", key("profiles"), 404, "customer_not_found"),
        ("/v1/profiles/cus_123", key("profiles"), 422, "malformed_customer_id"),
        ("/v1/profiles/'; drop table--", key("profiles"), 422, "malformed_customer_id"),
        (f"/v1/profiles/{ANA}", {}, 401, "missing_api_key"),
        (f"/v1/profiles/{ANA}", {"X-API-Key": "key-wrong"}, 401, "invalid_api_key"),
        (f"/v1/profiles/{ANA}", key("features"), 403, "insufficient_scope"),
        ("/v1/nothing-here", key("profiles"), 404, "not_found"),
    ],
)
def test_errors_are_clear_json(client, path, headers, status, error):
    response = client.get(path, headers=headers)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["message"]


def test_lookup_by_email_and_phone_through_the_identity_graph(client):
    by_email = client.get("/v1/profiles", params={"email": "  Ana@Example.COM "}, headers=key("profiles"))
    by_phone = client.get("/v1/profiles", params={"phone": "0912 345 678"}, headers=key("profiles"))

    assert by_email.status_code == 200, by_email.text
    assert (by_email.json()["customer_id"], by_email.json()["matched_by"]) == (ANA, "email")
    assert (by_phone.json()["customer_id"], by_phone.json()["matched_by"]) == (ANA, "phone")


def test_an_email_two_customers_shared_is_ambiguous_not_a_guess(client):
    response = client.get("/v1/profiles", params={"email": "family@example.com"}, headers=key("profiles"))

    assert response.status_code == 409
    assert response.json()["error"] == "ambiguous_identifier"
    assert response.json()["customer_ids"] == [BINH, CHI]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"email": "stranger@example.com"}, 404, "customer_not_found"),
        ({"email": "not an email"}, 422, "unusable_identifier"),
        ({}, 422, "invalid_request"),
        ({"email": "ana@example.com", "phone": "0912345678"}, 422, "invalid_request"),
    ],
)
def test_lookup_errors(client, params, status, error):
    response = client.get("/v1/profiles", params=params, headers=key("profiles"))

    assert (response.status_code, response.json()["error"]) == (status, error)


def test_feature_service_for_a_list_of_customers(client):
    body = {"service": "personalisation_v1", "customer_ids": [CHI, NOBODY, ANA]}
    response = client.post("/v1/features", json=body, headers=key("features"))

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["customer_id"], r["found"]) for r in results] == [(CHI, True), (NOBODY, False), (ANA, True)]
    assert results[2]["features"]["value_segment"] == "loyal"
    assert results[2]["features"]["audiences"] == ["vip"]
    assert results[0]["features"]["value_segment"] == "potential_loyalists"
    assert "email" not in results[2]["features"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"service": "churn_v9", "customer_ids": [ANA]}, key("features"), 404, "unknown_feature_service"),
        ({"service": "churn_v1", "customer_ids": ["bob"]}, key("features"), 422, "invalid_request"),
        ({"service": "churn_v1", "customer_ids": []}, key("features"), 422, "invalid_request"),
        ({"service": "churn_v1", "customer_ids": [ANA]}, key("profiles"), 403, "insufficient_scope"),
    ],
)
def test_feature_request_errors(client, body, headers, status, error):
    response = client.post("/v1/features", json=body, headers=headers)

    assert (response.status_code, response.json()["error"]) == (status, error)
    assert response.json()["message"]


def test_health_and_openapi(client):
    assert client.get("/v1/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/profiles/{customer_id}", "/v1/profiles", "/v1/features"} <= set(paths)


def test_no_keys_configured_refuses_every_request(tmp_path):
    features = Features(store_settings(Lake(tmp_path / "lake"), "local"))
    app = create_app(features.settings, features)

    response = TestClient(app).get(f"/v1/profiles/{ANA}", headers=key("profiles"))

    assert (response.status_code, response.json()["error"]) == (401, "no_api_keys")
