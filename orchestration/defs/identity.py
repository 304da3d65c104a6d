"""Identity resolution wiring: the identity tables as one multi-asset after bronze, and the quality gates.

The work happens in ``spark_jobs.jobs.resolve``; the gates are ``spark_jobs.quality_gates``. Gates are blocking
checks: a failed gate stops every asset downstream of the identity map.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
from deltalake import DeltaTable

from cdp import lake as layout
from ingest.contracts import SOURCES
from orchestration.defs.ingest import LAKE_WRITES_POOL, bronze_key
from orchestration.resources import LakeResource
from spark_jobs.jobs.resolve import resolve_identities
from spark_jobs.quality_gates import CLUSTER_SIZE, GATE_NAMES, MATCHED_SHARE, MERGE_SPLIT_SPIKE, evaluate_gates
from spark_jobs.rules import load_rules

IDENTITY_GROUP = "identity"
IDENTITY_TABLES = {
    layout.IDENTITY_MAP: "One row per source record with an identifier: its customer_id, how it matched, and how sure.",
    layout.IDENTITY_IDENTIFIERS: "The identity graph: every record x identifier, normalised, used or why not.",
    layout.IDENTITY_MATCH_PAIRS: "Probabilistic candidate pairs with match weight, probability and per-field evidence.",
    layout.IDENTITY_MERGE_HISTORY: "Every merge and split of customer ids, with run id and rule version.",
    layout.IDENTITY_PROFILES: "Per customer, the person profile the matcher compares (the incremental run's state).",
    layout.CUSTOMER_ID_REGISTRY: "Every customer_id ever minted, when and from which record: ids are never reused.",
}
IDENTITY_MAP_KEY = dg.AssetKey(["gold", "identity_map"])


def identity_key(table: layout.Table) -> dg.AssetKey:
    return dg.AssetKey([table.layer.value, table.name])


GATE_DESCRIPTIONS = {
    CLUSTER_SIZE: "No customer holds more records than quality_gates.max_customer_records (an over-merge).",
    MERGE_SPLIT_SPIKE: "Merges + splits of earlier ids stay below quality_gates.max_merge_split_share.",
    MATCHED_SHARE: "At least quality_gates.min_matched_share of records share their customer with another record.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            identity_key(table),
            group_name=IDENTITY_GROUP,
            description=description,
            kinds={"delta", "spark"},
            deps=[bronze_key(source) for source in SOURCES],
            # A run yields only the tables it wrote (no merges yet means no merge history): the rest are skipped.
            skippable=table != layout.IDENTITY_MAP,
        )
        for table, description in IDENTITY_TABLES.items()
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset=IDENTITY_MAP_KEY, blocking=True, description=GATE_DESCRIPTIONS[name])
        for name in GATE_NAMES
    ],
    pool=LAKE_WRITES_POOL,
)
def identity_resolution(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator:
    """Resolve every bronze record to a customer (spark_jobs/identity_rules.yaml), then check the gates."""
    rules = load_rules()
    settings = lake.settings()
    the_lake = lake.lake()
    # Incremental when it can be (same rules and model, few new records), as `cdp resolve`; else a full run.
    report = resolve_identities(
        lake.spark(),
        the_lake,
        rules,
        default_region=settings.default_phone_region,
        max_new_share=settings.identity_incremental_max_new_share,
        local_scope_max_records=settings.identity_local_scope_max_records,
        progress=context.log.info,
    )
    for table in IDENTITY_TABLES:
        metadata: dict[str, Any] = {"identity_run_id": report.run_id, "rule_version": report.rules_tag}
        if table == layout.IDENTITY_MAP:
            metadata.update(
                {
                    "customers": report.customers,
                    "resolved_records": report.resolved_records,
                    "largest_customer": report.largest_customer,
                    "dropped_identifiers": dg.MetadataValue.json(report.dropped_identifiers),
                    "seconds": dg.MetadataValue.json(report.seconds),
                    "mode": report.mode,
                    "scope_records": report.scope_records,
                }
            )
        if the_lake.exists(table):
            yield dg.MaterializeResult(asset_key=identity_key(table), metadata=metadata)
    runs = DeltaTable(the_lake.uri(layout.IDENTITY_RUNS)).to_pyarrow_table().to_pylist()
    runs.sort(key=lambda r: r["started_at"])
    current, previous = runs[-1], (runs[-2] if len(runs) > 1 else None)
    for gate in evaluate_gates(current, previous, rules.quality_gates):
        yield dg.AssetCheckResult(
            asset_key=IDENTITY_MAP_KEY,
            check_name=gate.name,
            passed=gate.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=gate.message,
            metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in gate.metadata.items()},
        )
    context.log.info(json.dumps({"identity_run": report.run_id, "customers": report.customers}))


identity_job = dg.define_asset_job(
    name="identity_job",
    selection=dg.AssetSelection.groups(IDENTITY_GROUP),
    description="Resolve identities from the bronze tables and check the identity quality gates.",
)

defs = dg.Definitions(assets=[identity_resolution], jobs=[identity_job])
