"""The features job in Dagster: the online store is loaded after the marts and its freshness check runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from cdp.lake import Lake
from feature_store.freshness import check_freshness
from orchestration.definitions import defs
from orchestration.defs.features import ONLINE_FEATURES_KEY
from tests.feature_store.conftest import ts, write_customers, write_memberships, write_trait_history

ANA = "cus_00000000000000a1"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _small_lake(lake: Lake) -> None:
    write_trait_history(lake, [{"customer_id": ANA, "as_of": ts("2025-03-01"), "frequency": 2}])
    write_customers(lake, [{"customer_id": ANA, "last_seen_at": ts("2025-02-01")}])
    write_memberships(lake, [{"audience_name": "vip", "customer_id": ANA, "entered_at": ts("2025-03-01")}])


def test_features_job_loads_the_online_store_after_the_marts(lake: Lake, monkeypatch):
    _small_lake(lake)
    monkeypatch.setenv("CDP_FEATURE_PROJECT", "dagster_test")
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["gold", "customer_trait_history"]) in graph.get(ONLINE_FEATURES_KEY).parent_keys
    config = {"resources": {"lake": {"config": {"lake_root": str(lake.root)}}}}

    result = defs.resolve_job_def("features_job").execute_in_process(run_config=config)

    assert result.success
    (materialization,) = result.asset_materializations_for_node("features__online_store")
    assert materialization.metadata["views_loaded"].value == 9
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("freshness", True), check.description


def test_freshness_fails_when_the_online_store_is_behind_or_stale(lake: Lake):
    _small_lake(lake)
    loaded = {"customer_rfm": ts("2025-03-01"), "customer_cx": ts("2025-02-01"), "customer_profile": None}

    result = check_freshness(
        lake, loaded, last_materialised_at=NOW - timedelta(hours=50), now=NOW, max_age=timedelta(hours=36)
    )

    assert not result.passed
    assert result.behind == ["customer_cx", "customer_profile"]
    assert result.hours_since_materialised == 50
    assert "last materialised 50.0 h ago (limit 36 h)" in result.message


def test_freshness_passes_when_the_latest_snapshot_was_loaded_recently(lake: Lake):
    _small_lake(lake)
    result = check_freshness(
        lake,
        {"customer_rfm": ts("2025-03-01")},
        last_materialised_at=NOW - timedelta(hours=1),
        now=NOW,
        max_age=timedelta(hours=36),
    )

    assert result.passed, result.message
    assert result.latest_snapshot == ts("2025-03-01")
