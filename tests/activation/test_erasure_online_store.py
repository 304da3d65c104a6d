"""Erasure tells the Feast online store, on the real stores: SQLite (``local``) and Redis with the SQL registry
(``prod``; CI has both services and a skip there fails the run). A store whose feature repo was never applied holds
nothing: the erasure succeeds and the receipt says so."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from activation.erasure import erase, resolve
from cdp import lake as layout
from cdp.lake import Lake
from feature_store.config import features_dir
from feature_store.store import Features
from tests.activation.test_erasure import leftovers
from tests.feature_store.conftest import (
    open_features,
    store_settings,
    ts,
    write_customers,
    write_identity,
    write_memberships,
    write_trait_history,
)

ANA, BINH = "cus_00000000000000a1", "cus_00000000000000b2"
T1 = ts("2025-01-01")


def _lake(root) -> Lake:
    lake = Lake(root)
    write_trait_history(lake, [
        {"customer_id": c, "as_of": T1, "frequency": f, "value_segment": "loyal", "p_alive": 0.5}
        for c, f in ((ANA, 3), (BINH, 5))
    ])  # fmt: skip
    write_customers(lake, [
        {"customer_id": ANA, "first_name": "Anastasia", "email": "anastasia.q@example.com", "last_seen_at": T1},
        {"customer_id": BINH, "first_name": "Binh", "email": "binh.q@example.com", "last_seen_at": T1},
    ])  # fmt: skip
    write_memberships(lake, [{"audience_name": "vip", "customer_id": c, "entered_at": T1} for c in (ANA, BINH)])
    write_identity(lake, [(ANA, "R1", "email", "anastasia.q@example.com"), (BINH, "R2", "email", "binh.q@example.com")])
    return lake


def _receipt_online(lake: Lake) -> list:
    return DeltaTable(lake.uri(layout.ERASURE_RECEIPTS)).to_pyarrow_table()["online_store_rows_deleted"].to_pylist()


@pytest.mark.parametrize("environment", ["local", "prod"])
def test_erase_deletes_the_person_from_the_online_store(tmp_path, environment: str) -> None:
    lake = _lake(tmp_path / "lake")
    for features in open_features(store_settings(lake, environment)):
        features.apply()
        features.materialize(T1)
        assert features.online([ANA, BINH], service="personalisation_v1").to_dict()["frequency"] == [3, 5]

        person = resolve(lake, value="anastasia.q@example.com", id_type="email")
        receipt = erase(lake, person, lookup="email", online_store=features, run_by="dpo")

        assert receipt.online_store_rows_deleted is not None and receipt.online_store_rows_deleted > 0
        assert _receipt_online(lake) == [receipt.online_store_rows_deleted]
        online = features.online([ANA, BINH], service="personalisation_v1").to_dict()
        assert online["frequency"] == [None, 5]
        assert features.online([ANA], features=["customer_profile:email"]).to_dict()["email"] == [None]
        # No byte of her left under the lake, the SQLite online store's file included (free pages overwritten).
        assert leftovers(lake.root, ["anastasia", ANA]) == []
        assert leftovers(lake.root, ["binh.q@example.com"])  # the search still finds the others


@pytest.mark.parametrize("environment", ["local", "prod"])
def test_erase_succeeds_when_the_feature_repo_was_never_applied(tmp_path, environment: str) -> None:
    lake = _lake(tmp_path / "lake")
    features = Features(store_settings(lake, environment))  # its project never exists: nothing to tear down
    receipt = erase(lake, resolve(lake, customer_id=ANA), lookup="customer_id", online_store=features)
    assert receipt.online_store_rows_deleted is None  # nothing was online: said, not counted as zero
    assert _receipt_online(lake) == [None]
    assert receipt.rows_deleted > 0
    if environment == "local":
        assert not features_dir(lake).exists()  # nothing created just to find out
