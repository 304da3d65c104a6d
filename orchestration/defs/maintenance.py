"""Lake maintenance wiring: a nightly job that compacts, checkpoints and vacuums every Delta table.

The work is ``cdp.maintenance.maintain_all`` (deltalake, since Sail has no OPTIMIZE or VACUUM); the retention
comes from ``Settings.vacuum_retention_hours`` (``CDP_VACUUM_RETENTION_HOURS``).
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
from dataclasses import asdict

import dagster as dg

from cdp.maintenance import maintain_all
from orchestration.defs.ingest import LAKE_WRITES_POOL
from orchestration.resources import LakeResource


@dg.op(pool=LAKE_WRITES_POOL)  # never compacts a table an ingest is appending to
def maintain_lake(context: dg.OpExecutionContext, lake: LakeResource) -> None:
    """Compact small files, checkpoint the Delta log and vacuum old file versions of every lake table."""
    settings = lake.settings()
    results = maintain_all(lake.lake(), retention_hours=settings.vacuum_retention_hours)
    for result in results:
        context.log.info(
            f"{result.table}: files {result.files_before} -> {result.files_after}, "
            f"compacted {result.files_compacted}, vacuumed {result.files_vacuumed}"
        )
    context.add_output_metadata(
        {
            "tables": len(results),
            "files_compacted": sum(r.files_compacted for r in results),
            "files_vacuumed": sum(r.files_vacuumed for r in results),
            "retention_hours": settings.vacuum_retention_hours,
            "results": dg.MetadataValue.json([asdict(r) for r in results]),
        }
    )


@dg.job(description="Compact, checkpoint and vacuum every Delta table in the lake.")
def lake_maintenance_job() -> None:
    maintain_lake()


nightly_maintenance_schedule = dg.ScheduleDefinition(
    name="nightly_maintenance_schedule",
    job=lake_maintenance_job,
    cron_schedule="30 2 * * *",  # after the night's batch drops, before the morning's readers
    execution_timezone="UTC",
)

defs = dg.Definitions(jobs=[lake_maintenance_job], schedules=[nightly_maintenance_schedule])
