"""The identity lookup follows the identity tables: a new identity run is seen once the refresh interval passes."""

from __future__ import annotations

import pytest

from cdp.lake import Lake
from feature_store.lookup import CustomerNotFound, IdentityLookup
from spark_jobs.rules import load_rules
from tests.feature_store.conftest import write_identity

ANA, BINH = "cus_00000000000000a1", "cus_00000000000000b2"


def test_a_new_identity_run_is_seen_after_the_refresh_interval(lake: Lake):
    write_identity(lake, [(ANA, "r1", "email", "shared@example.com")])
    fresh = IdentityLookup(lake, load_rules(), "VN", refresh_seconds=0)
    cached = IdentityLookup(lake, load_rules(), "VN", refresh_seconds=3600)
    assert fresh.find("email", "Shared@Example.com").customer_id == ANA
    assert cached.find("email", "shared@example.com").customer_id == ANA

    write_identity(lake, [(BINH, "r1", "email", "shared@example.com")])  # identity moved the record to Binh

    assert fresh.find("email", "shared@example.com").customer_id == BINH
    assert cached.find("email", "shared@example.com").customer_id == ANA  # until its next refresh
    with pytest.raises(CustomerNotFound, match="no customer has that phone"):
        fresh.find("phone", "+84912345678")
