"""The dbt marts as Dagster assets (dagster-dbt), with the Great Expectations suites as asset checks.

Every dbt model and test shows in the asset graph; the models written to the lake (the ``delta`` materialization)
are keyed by their lake table (``gold/customers``), the working models by ``dbt/<name>``. Bronze and identity
sources map to the assets that produce them, so the marts run after identity resolution.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from cdp import lake as layout
from expectations.marts import validate_mart
from marts.audiences import DBT_PROJECT
from marts.build import build_command, dbt_vars, lake_environment, manifest_path, prepare
from marts.build_state import forget_state
from marts.schedule import record_node_seconds
from orchestration.defs.identity import IDENTITY_MAP_KEY
from orchestration.defs.ingest import LAKE_WRITES_POOL, bronze_key
from orchestration.resources import LakeResource

MARTS_GROUP = "marts"
_IDENTITY_SOURCES = {
    "identity_map": IDENTITY_MAP_KEY,
    "identity_identifiers": dg.AssetKey(["silver", "identity_identifiers"]),
}
# The venv's dbt (whether or not its bin is on PATH), in the order `cdp build` gives its nodes (marts/schedule.py).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("cdp-dbt"))


class LakeDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        name = dbt_resource_props["name"]
        if dbt_resource_props["resource_type"] == "source":
            source = dbt_resource_props["source_name"]
            if source == "bronze":
                return bronze_key(name)
            if source == "identity":
                return _IDENTITY_SOURCES[name]
            return dg.AssetKey(["history", name])  # a mart reading back its own earlier version
        config = dbt_resource_props.get("config", {})
        if config.get("materialized") == "delta":
            return dg.AssetKey([config.get("lake_layer", layout.Layer.GOLD.value), name])
        return dg.AssetKey(["dbt", name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return MARTS_GROUP


@dbt_assets(
    manifest=manifest_path(),
    dagster_dbt_translator=LakeDbtTranslator(),
    pool=LAKE_WRITES_POOL,
)
def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource) -> Iterator:
    """Build the profile, traits and audiences as of the run's as_of (CDP_AS_OF, default now)."""
    settings, the_lake = lake.settings(), lake.lake()
    created, audiences = prepare(the_lake)
    forget_state(the_lake)  # this run builds outside `cdp build`'s record: the next `cdp build` builds everything
    context.log.info(json.dumps({"created_source_tables": created, "audiences": audiences}))
    # as_of: lake_environment, not --vars; dbt unit tests only if settings.build_unit_tests (CI runs them all)
    command = build_command(unit_tests=settings.build_unit_tests)
    args = [*command, "--target", settings.env, "--vars", dbt_vars(the_lake)]
    with lake_environment(the_lake, settings.env, as_of=settings.observation_time()):
        invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
    results = invocation.get_artifact("run_results.json")["results"]
    record_node_seconds(
        the_lake,
        [(r["unique_id"], r["status"], r["execution_time"]) for r in results],
        full_refresh="--full-refresh" in args,
    )


def _mart_check(table: layout.Table) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey([table.layer.value, table.name]),
        name="great_expectations",
        blocking=True,
        description=f"The Great Expectations suite of {table} (expectations/marts.py): keys, ranges, accepted values.",
    )
    def check(lake: LakeResource) -> dg.AssetCheckResult:
        outcomes = validate_mart(lake.spark(), lake.lake(), table)
        failed = [o.describe() for o in outcomes if not o.success]
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(failed) or f"{len(outcomes)} expectations met",
            metadata={"expectations": len(outcomes), "failed": dg.MetadataValue.json(failed)},
        )

    return check


marts_job = dg.define_asset_job(
    name="marts_job",
    selection=dg.AssetSelection.groups(MARTS_GROUP),
    description="Build the dbt marts (profile, traits, CLV, consent, audiences) and check them.",
)

defs = dg.Definitions(
    assets=[dbt_marts],
    asset_checks=[_mart_check(layout.CUSTOMERS), _mart_check(layout.CUSTOMER_TRAITS)],
    jobs=[marts_job],
    resources={
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT), profiles_dir=str(DBT_PROJECT), dbt_executable=DBT_EXECUTABLE
        )
    },
)
