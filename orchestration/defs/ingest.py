"""Bronze ingest wiring: one asset per landing source, their quality checks, the ingest job, sensor and schedule.

Everything is derived from ``ingest.contracts.SOURCES``: a new contract gets its asset, checks and sensor coverage
without a line here. The work itself happens in ``ingest.job.run_ingest`` and the ``expectations`` package.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import dagster as dg
from pyspark.sql import SparkSession

from cdp import lake as layout
from cdp.lake import Lake
from cdp.maintenance import history, row_count
from cdp.settings import Settings
from expectations.reconciliation import quarantine_rate, reconciliation
from ingest.contracts import SOURCES, FieldType, SourceContract
from ingest.job import INGESTED, REJECTED, SKIPPED, FileOutcome, discover, run_ingest
from orchestration.resources import LakeResource

BRONZE_GROUP = "bronze"
# Ingest and maintenance both rewrite Delta tables; one pool (limit 1 in dagster.yaml) keeps them from overlapping,
# which matters because run_ingest rolls back any run it finds unfinished.
LAKE_WRITES_POOL = "lake_writes"
RECONCILIATION, CONTRACT_EXPECTATIONS, QUARANTINE_RATE = "reconciliation", "contract_expectations", "quarantine_rate"
CHECK_NAMES = (RECONCILIATION, CONTRACT_EXPECTATIONS, QUARANTINE_RATE)
NO_DATA = "no data yet"

_COLUMN_TYPES = {FieldType.JSON: "string (JSON)", FieldType.LINES: "array<struct<sku,category,quantity,unit_price>>"}


def bronze_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([BRONZE_GROUP, source])


def check_keys(sources: Sequence[str]) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(bronze_key(source), name) for source in sources for name in CHECK_NAMES]


def _column_schema(contract: SourceContract) -> dg.TableSchema:
    """The contract's fields as the asset's column schema, shown in the Dagster UI."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=_COLUMN_TYPES.get(field.type, field.type.value),
                description=field.description or None,
                constraints=dg.TableColumnConstraints(
                    nullable=not field.required,
                    other=[f"one of {', '.join(field.accepted_values)}"] if field.accepted_values else [],
                ),
            )
            for field in contract.fields
        ]
    )


BRONZE_SPECS = [
    dg.AssetSpec(
        key=bronze_key(contract.name),
        group_name=BRONZE_GROUP,
        description=contract.description,
        kinds={"delta", "spark"},
        metadata={"record_id": contract.record_id, "dagster/column_schema": _column_schema(contract)},
    )
    for contract in SOURCES.values()
]

CHECK_SPECS = [
    spec
    for source in SOURCES
    for spec in (
        dg.AssetCheckSpec(
            RECONCILIATION,
            asset=bronze_key(source),
            blocking=True,
            description="Every ingest-log row adds up (records in = accepted + quarantined + suppressed) and matches "
            "the rows in bronze and quarantine; no rows without a log entry.",
        ),
        dg.AssetCheckSpec(
            CONTRACT_EXPECTATIONS,
            asset=bronze_key(source),
            blocking=True,
            description="Great Expectations suite built from the contract: required fields and record id not null, "
            "enum fields within accepted values, dedupe key unique, lineage columns filled.",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_RATE,
            asset=bronze_key(source),
            blocking=False,
            description="Warns when the latest run that read this source quarantined more than "
            "CDP_MAX_QUARANTINE_RATE (default 1%) of its records or rejected a whole file.",
        ),
    )
]


def _count(outcomes: list[FileOutcome], status: str) -> int:
    return sum(1 for o in outcomes if o.status == status)


def _materialization(lake: Lake, source: str, run_id: str, outcomes: list[FileOutcome]) -> dg.MaterializeResult:
    table = layout.bronze(source)
    exists = lake.exists(table)
    return dg.MaterializeResult(
        asset_key=bronze_key(source),
        metadata={
            "ingest_run_id": run_id,
            "files_ingested": _count(outcomes, INGESTED),
            "files_rejected": _count(outcomes, REJECTED),
            "files_skipped": _count(outcomes, SKIPPED),
            "records_in": sum(o.records_in for o in outcomes),
            "accepted": sum(o.accepted for o in outcomes),
            "quarantined": sum(o.quarantined for o in outcomes),
            "table_path": dg.MetadataValue.path(lake.uri(table)),
            "quarantine_path": dg.MetadataValue.path(lake.uri(layout.quarantine(source))),
            "dagster/row_count": row_count(lake, table) if exists else 0,
        },
        # The Delta version only moves when rows were appended, so an hourly run that found nothing new does not
        # make downstream assets look stale.
        data_version=dg.DataVersion(str(history(lake, table, limit=1)[0].version)) if exists else None,
    )


@dg.multi_asset(specs=BRONZE_SPECS, can_subset=True, name="bronze_ingest", pool=LAKE_WRITES_POOL)
def bronze_ingest(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[dg.MaterializeResult]:
    """Ingest the new landing files of the selected sources in one run_ingest call (one ingest run id)."""
    sources = [s for s in SOURCES if bronze_key(s) in context.selected_asset_keys]
    settings, the_lake = lake.settings(), lake.lake()
    report = run_ingest(
        lake.spark(),
        the_lake,
        settings.landing_root,
        sources=sources,
        max_record_bytes=settings.max_record_bytes,
        progress=lambda name, finished, total: context.log.info(f"ingested {finished}/{total}: {name}"),
        default_phone_region=settings.default_phone_region,
    )
    if report.rolled_back_runs:
        context.log.warning(f"rolled back unfinished ingest runs: {', '.join(report.rolled_back_runs)}")
    by_source = report.by_source()
    for source in sources:
        yield _materialization(the_lake, source, report.run_id, by_source.get(source, []))


def _no_data(check: dg.AssetCheckKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=check.asset_key, check_name=check.name, passed=True, description=NO_DATA, metadata={"status": NO_DATA}
    )


def _reconciliation_result(
    spark: SparkSession, lake: Lake, check: dg.AssetCheckKey, settings: Settings
) -> dg.AssetCheckResult:
    result = reconciliation(spark, lake, check.asset_key.path[-1])
    if not result.has_data:
        return _no_data(check)
    description = None
    if result.mismatches:
        first = result.mismatches[0]
        description = f"{result.mismatch_count} mismatches; first: {first.file_path}: {first.problems}"
    return dg.AssetCheckResult(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "files_checked": result.files_checked,
            "records_in": result.records_in,
            "accepted": result.accepted,
            "quarantined": result.quarantined,
            "bronze_rows": result.bronze_rows,
            "quarantine_rows": result.quarantine_rows,
            "mismatch_count": result.mismatch_count,
            "mismatches": dg.MetadataValue.json([asdict(m) for m in result.mismatches]),
        },
    )


def _contract_result(
    spark: SparkSession, lake: Lake, check: dg.AssetCheckKey, settings: Settings
) -> dg.AssetCheckResult:
    # Imported here: Great Expectations takes seconds to import, and the code server and sensor ticks never need it.
    from expectations.suites import validate_bronze

    result = validate_bronze(spark, lake, check.asset_key.path[-1])
    if not result.exists:
        return _no_data(check)
    return dg.AssetCheckResult(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(o.describe() for o in result.failures) or None,
        metadata={
            "suite": f"bronze.{result.source}",
            "row_count": result.row_count,
            "expectations": len(result.outcomes),
            "failed_expectations": len(result.failures),
            # Counts only: the values that broke an expectation may be personal data.
            "failures": dg.MetadataValue.json(
                [
                    {"rule": o.rule, "column": o.column, "unexpected_count": o.unexpected_count, "error": o.error}
                    for o in result.failures
                ]
            ),
        },
    )


def _quarantine_rate_result(
    spark: SparkSession, lake: Lake, check: dg.AssetCheckKey, settings: Settings
) -> dg.AssetCheckResult:
    result = quarantine_rate(spark, lake, check.asset_key.path[-1], threshold=settings.max_quarantine_rate)
    if result.run_id is None:
        return _no_data(check)
    return dg.AssetCheckResult(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=result.acceptable,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{result.rate:.2%} of {result.records_in} records quarantined, "
        f"{result.rejected_files} files rejected (threshold {result.threshold:.0%})",
        metadata={
            "ingest_run_id": result.run_id,
            "quarantine_rate": dg.MetadataValue.float(result.rate),
            "threshold": dg.MetadataValue.float(result.threshold),
            "records_in": result.records_in,
            "quarantined": result.quarantined,
            "rejected_files": result.rejected_files,
            "all_time_records_in": result.all_time_records_in,
            "all_time_quarantined": result.all_time_quarantined,
        },
    )


_CHECKS: dict[str, Callable[[SparkSession, Lake, dg.AssetCheckKey, Settings], dg.AssetCheckResult]] = {
    RECONCILIATION: _reconciliation_result,
    CONTRACT_EXPECTATIONS: _contract_result,
    QUARANTINE_RATE: _quarantine_rate_result,
}


@dg.multi_asset_check(specs=CHECK_SPECS, can_subset=True, name="bronze_checks")
def bronze_checks(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> Iterator[dg.AssetCheckResult]:
    """Run the selected checks; each one passes with "no data yet" for a source that has no table yet."""
    spark, the_lake = lake.spark(), lake.lake()
    order = {key: i for i, key in enumerate(check_keys(list(SOURCES)))}
    for check in sorted(context.selected_asset_check_keys, key=order.__getitem__):
        yield _CHECKS[check.name](spark, the_lake, check, lake.settings())


ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.assets(bronze_ingest),  # the bronze assets and, with them, their checks
    description="Ingest new landing files into bronze and quarantine, then check the result.",
)


def landing_fingerprint(landing_root: Path, contract: SourceContract) -> str | None:
    """A digest of the source's landing listing (path, size, mtime); None when the folder has no files."""
    entries = []
    for path in discover(landing_root, contract):
        try:
            stat = path.stat()
        except FileNotFoundError:  # moved away between listing and stat: it is not there to ingest
            continue
        entries.append([str(path), stat.st_size, stat.st_mtime_ns])
    if not entries:
        return None
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


@dg.sensor(name="landing_sensor", job=ingest_job, minimum_interval_seconds=60)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    """Request an ingest run for the sources whose landing folder changed since the last evaluation.

    The cursor holds one digest per source, so it stays small however many files land. A file removed also
    changes the digest; a source whose folder is emptied requests nothing."""
    landing = lake.landing()
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = {name: digest for name, contract in SOURCES.items() if (digest := landing_fingerprint(landing, contract))}
    changed = [name for name, digest in current.items() if previous.get(name) != digest]
    cursor = json.dumps(current, sort_keys=True)
    if not changed:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new landing files under {landing}"), cursor=cursor)
    run_key = hashlib.sha256(json.dumps({name: current[name] for name in changed}).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"landing-{run_key}",
                asset_selection=[bronze_key(name) for name in changed],
                asset_check_keys=check_keys(changed),  # by default a job's run would run every source's checks
                tags={"cdp/trigger": "landing_sensor", "cdp/sources": ",".join(changed)},
            )
        ],
        cursor=cursor,
    )


hourly_ingest_schedule = dg.ScheduleDefinition(
    name="hourly_ingest_schedule",
    job=ingest_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    description="Catch-all hourly ingest of every source, in case the sensor is off or missed a change.",
)

defs = dg.Definitions(
    assets=[bronze_ingest],
    asset_checks=[bronze_checks],
    jobs=[ingest_job],
    sensors=[landing_sensor],
    schedules=[hourly_ingest_schedule],
)
