"""End to end: the Dagster definitions on generated demo data, checked against the generator's own accounting.

Every generated row lands in bronze or quarantine, exactly the planted bad rows are quarantined, every blocking
check passes, and a second run finds nothing new.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from cdp.maintenance import read_arrow
from cdp.settings import Settings
from cdp.spark import get_spark
from ingest.contracts import SOURCES
from marts.schedule import read_node_seconds
from orchestration.definitions import defs
from spark_jobs.jobs.evaluate import evaluate_identity_map
from spark_jobs.jobs.explain import explain_customer
from synthetic_data import generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, object]:
    landing = tmp_path_factory.mktemp("e2e") / "landing"
    return landing, generate(landing, customers=400, seed=11)


def _rows(lake: Lake, table) -> int:
    return read_arrow(lake.uri(table)).num_rows if lake.exists(table) else 0


def test_dagster_ingest_job_on_generated_data(generated, tmp_path):
    landing, summary = generated
    lake = Lake(tmp_path / "lake")
    config = {"resources": {"lake": {"config": {"lake_root": str(lake.root), "landing_root": str(landing)}}}}
    job = defs.resolve_job_def("ingest_job")

    result = job.execute_in_process(run_config=config)

    assert result.success
    checks = result.get_asset_check_evaluations()
    blocking_failures = [
        (c.asset_key.path[-1], c.check_name)
        for c in checks
        if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert blocking_failures == []
    for source in SOURCES:
        bronze, quarantined = _rows(lake, layout.bronze(source)), _rows(lake, layout.quarantine(source))
        assert bronze + quarantined == summary.rows[source], source  # nothing lost
        assert quarantined == summary.planted_bad_rows[source], source  # exactly the planted bad rows
    second = job.execute_in_process(run_config=config)
    assert second.success
    assert sum(_rows(lake, layout.bronze(s)) for s in SOURCES) == sum(
        summary.rows[s] - summary.planted_bad_rows[s] for s in SOURCES
    )


def test_dagster_identity_job_meets_the_accuracy_targets(generated, tmp_path):
    landing, summary = generated
    lake = Lake(tmp_path / "lake")
    config = {"resources": {"lake": {"config": {"lake_root": str(lake.root), "landing_root": str(landing)}}}}
    assert defs.resolve_job_def("ingest_job").execute_in_process(run_config=config).success

    result = defs.resolve_job_def("identity_job").execute_in_process(run_config=config)

    assert result.success
    gates = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert gates == {"cluster_size": True, "merge_split_spike": True, "matched_share": True}
    spark = get_spark(Settings())
    scores = evaluate_identity_map(spark, lake, summary.truth_dir / "record_truth.csv.gz")
    linkable = scores["identifier-linkable records"]
    assert linkable.pairwise_precision >= 0.995 and linkable.pairwise_f1 >= 0.99, linkable
    assert scores["all records"].pairwise_precision >= 0.995, scores["all records"]
    first = {(r["source"], r["source_record_id"]): r["customer_id"] for r in _map(lake)}
    # a second full run keeps every id
    assert defs.resolve_job_def("identity_job").execute_in_process(run_config=config).success
    assert {(r["source"], r["source_record_id"]): r["customer_id"] for r in _map(lake)} == first
    some_customer = next(iter(first.values()))
    assert explain_customer(lake, some_customer).records


def _map(lake: Lake) -> list[dict]:
    return read_arrow(lake.uri(layout.IDENTITY_MAP)).to_pylist()


def test_dagster_marts_job_builds_checked_delta_marts(generated, tmp_path, monkeypatch):
    landing, _ = generated
    lake = Lake(tmp_path / "lake")
    config = {"resources": {"lake": {"config": {"lake_root": str(lake.root), "landing_root": str(landing)}}}}
    monkeypatch.setenv("CDP_AS_OF", "2026-01-01T00:00:00+00:00")  # the generated year's end
    for job in ("ingest_job", "identity_job"):
        assert defs.resolve_job_def(job).execute_in_process(run_config=config).success

    result = defs.resolve_job_def("marts_job").execute_in_process(run_config=config)

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed] == []
    assert {(c.asset_key.path[-1], c.check_name) for c in checks} >= {
        ("customers", "great_expectations"),
        ("customer_traits", "great_expectations"),
        ("customers", "primary_key_customers_customer_id"),
    }
    identity_customers = {r["customer_id"] for r in _map(lake)}
    customers = DeltaTable(lake.uri(layout.CUSTOMERS)).to_pyarrow_table(columns=["customer_id"]).column(0).to_pylist()
    assert sorted(customers) == sorted(identity_customers)  # one golden record per resolved person
    orders = _rows(lake, layout.bronze("orders")) + _rows(lake, layout.bronze("pos_transactions"))
    assert _rows(lake, layout.CUSTOMER_ORDERS) == orders  # every order and POS transaction, once
    traits = DeltaTable(lake.uri(layout.CUSTOMER_TRAITS)).to_pyarrow_table().to_pylist()
    buyers = [t for t in traits if t["frequency"] > 0]
    assert buyers and all(0 <= t["p_alive"] <= 1 for t in buyers)
    assert {t["as_of"].isoformat() for t in traits} == {"2026-01-01T00:00:00+00:00"}
    assert _rows(lake, layout.AUDIENCE_MEMBERSHIPS) > 0
    # dbt ran through cdp-dbt, and the nodes' times are kept for the next build's order (marts/schedule.py)
    recorded = read_node_seconds(lake)
    assert "model.cdp.customer_traits" in recorded and "model.cdp.audience_memberships" in recorded
