"""The Dagster definitions: they load, the ingest job materialises bronze and runs its checks, the sensor reacts."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cdp.settings import Settings
from ingest.contracts import SOURCES
from orchestration.definitions import defs
from orchestration.defs.identity import IDENTITY_MAP_KEY
from orchestration.defs.ingest import CHECK_NAMES, bronze_key, landing_sensor
from orchestration.resources import LakeResource
from spark_jobs.quality_gates import GATE_NAMES

ALL_BRONZE = {bronze_key(source) for source in SOURCES}


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetMaterialization]:
    return {m.asset_key.path[-1]: m for m in result.asset_materializations_for_node("bronze_ingest")}


def _meta(materialization: dg.AssetMaterialization, *keys: str) -> tuple:
    return tuple(materialization.metadata[key].value for key in keys)


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("ingest_job")
    assert set(job.asset_layer.selected_asset_keys) == ALL_BRONZE
    graph = defs.resolve_asset_graph()
    identity_gates = {dg.AssetCheckKey(IDENTITY_MAP_KEY, name) for name in GATE_NAMES}
    bronze_checks = {dg.AssetCheckKey(key, name) for key in ALL_BRONZE for name in CHECK_NAMES}
    mart_suites = {
        dg.AssetCheckKey(dg.AssetKey(["gold", t]), "great_expectations") for t in ("customers", "customer_traits")
    }
    # dbt's data tests show as checks of the model they test (e.g. primary_key_customers_customer_id on gold/customers)
    dbt_tests = graph.asset_check_keys - bronze_checks - identity_gates - mart_suites
    assert dg.AssetCheckKey(dg.AssetKey(["gold", "customers"]), "primary_key_customers_customer_id") in dbt_tests
    assert graph.asset_check_keys >= bronze_checks | identity_gates | mart_suites
    blocking = {key.name: graph.get_check_spec(key).blocking for key in graph.asset_check_keys - dbt_tests}
    assert blocking == {
        "reconciliation": True,
        "contract_expectations": True,
        "quarantine_rate": False,
        "cluster_size": True,
        "merge_split_spike": True,
        "matched_share": True,
        "great_expectations": True,
    }
    marts = defs.resolve_job_def("marts_job").asset_layer.selected_asset_keys
    assert {dg.AssetKey(["gold", t]) for t in ("customers", "customer_traits", "audience_memberships")} <= marts
    assert IDENTITY_MAP_KEY in graph.get(dg.AssetKey(["dbt", "stg_identity__identity_map"])).parent_keys
    identity = defs.resolve_job_def("identity_job")
    assert IDENTITY_MAP_KEY in identity.asset_layer.selected_asset_keys
    assert set(graph.get(IDENTITY_MAP_KEY).parent_keys) >= ALL_BRONZE
    assert graph.get(bronze_key("events")).kinds == {"delta", "spark"}
    assert defs.resolve_job_def("lake_maintenance_job") is not None
    schedules = {
        name: defs.resolve_schedule_def(name) for name in ("hourly_ingest_schedule", "nightly_maintenance_schedule")
    }
    assert {n: s.cron_schedule for n, s in schedules.items()} == {
        "hourly_ingest_schedule": "0 * * * *",
        "nightly_maintenance_schedule": "30 2 * * *",
    }
    assert defs.resolve_sensor_def("landing_sensor").job_name == "ingest_job"


def test_ingest_job_materialises_bronze_and_runs_the_checks(run_config: dict) -> None:
    job = defs.resolve_job_def("ingest_job")
    result = job.execute_in_process(run_config=run_config)
    assert result.success

    materialized = _materializations(result)
    assert set(materialized) == set(SOURCES)  # the whole job: every source, landed or not
    keys = ("files_ingested", "records_in", "accepted", "quarantined", "dagster/row_count")
    assert _meta(materialized["events"], *keys) == (1, 4, 3, 1, 3)
    assert _meta(materialized["crm_contacts"], *keys) == (1, 2, 2, 0, 2)
    assert _meta(materialized["orders"], *keys) == (0, 0, 0, 0, 0)
    assert materialized["events"].metadata["table_path"].value.endswith("lake/bronze/events")

    checks = _checks(result)
    assert len(checks) == len(SOURCES) * len(CHECK_NAMES)
    failed = {key: e.severity for key, e in checks.items() if not e.passed}
    # 1 of 4 events quarantined is above the 1% threshold: a warning, which does not fail the run.
    assert failed == {("events", "quarantine_rate"): dg.AssetCheckSeverity.WARN}
    assert checks[("events", "reconciliation")].metadata["bronze_rows"].value == 3
    assert checks[("crm_contacts", "contract_expectations")].metadata["row_count"].value == 2
    assert checks[("orders", "contract_expectations")].metadata["status"].value == "no data yet"

    # Nothing new landed: the second run appends nothing, so the data versions stay put.
    again = _materializations(job.execute_in_process(run_config=run_config))
    assert _meta(again["events"], "files_ingested", "dagster/row_count") == (0, 3)
    versions = [m.tags["dagster/data_version"] for m in (materialized["events"], again["events"])]
    assert versions[0] == versions[1]


def test_sensor_requests_runs_for_changed_sources_only(landed: Path, run_config: dict) -> None:
    resources = {"lake": LakeResource(landing_root=str(landed))}
    first = landing_sensor(dg.build_sensor_context(cursor=None, resources=resources))
    (request,) = first.run_requests
    assert request.asset_selection == [bronze_key("events"), bronze_key("crm_contacts")]
    assert {key.asset_key for key in request.asset_check_keys} == set(request.asset_selection)

    (landed / "crm_contacts" / "_SUCCESS").write_text("")  # a marker, not data: not a change
    unchanged = landing_sensor(dg.build_sensor_context(cursor=first.cursor, resources=resources))
    assert not unchanged.run_requests and unchanged.skip_reason is not None

    (landed / "crm_contacts" / "export-2.csv").write_text("contact_id,updated_at\nc-3,2024-01-05T00:00:00Z\n")
    changed = landing_sensor(dg.build_sensor_context(cursor=unchanged.cursor, resources=resources))
    (request,) = changed.run_requests
    assert request.asset_selection == [bronze_key("crm_contacts")]
    assert request.run_key != first.run_requests[0].run_key

    # The requested subset runs on its own, with only its checks.
    result = defs.resolve_job_def("ingest_job").execute_in_process(
        run_config=run_config, asset_selection=request.asset_selection
    )
    assert result.success
    assert set(_materializations(result)) == {"crm_contacts"}
    assert {source for source, _ in _checks(result)} == {"crm_contacts"}
    assert _meta(_materializations(result)["crm_contacts"], "files_ingested", "records_in") == (2, 3)


def test_maintenance_job_compacts_every_lake_table(run_config: dict) -> None:
    defs.resolve_job_def("ingest_job").execute_in_process(run_config=run_config)
    result = defs.resolve_job_def("lake_maintenance_job").execute_in_process(run_config=run_config)
    assert result.success
    (metadata,) = [
        e.event_specific_data.metadata for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"
    ]
    tables = {r["table"] for r in metadata["results"].value}
    # Ingest wrote bronze and quarantine for events (one row quarantined), bronze for crm, and the two audit tables.
    assert tables == {
        "audit.ingest_log",
        "audit.ingest_runs",
        "bronze.crm_contacts",
        "bronze.events",
        "quarantine.events",
    }
    assert metadata["retention_hours"].value == Settings().vacuum_retention_hours
