"""Delta table maintenance through the ``deltalake`` package: compaction, vacuum, checkpoints and history.

Sail has no OPTIMIZE or VACUUM, and every engine that reads the lake benefits from fewer, larger files. Appends
from frequent small ingests leave many small files; :func:`maintain` compacts them, writes a log checkpoint and
removes files no version younger than the retention period needs.

Tables written with deletion vectors (the identity tables an incremental run changes in place) keep the rows a
MERGE or DELETE replaced in their old files, only masked. deltalake's ``to_pyarrow_table``/``to_pyarrow_dataset``
refuse such tables: read them with :func:`read_arrow`. :func:`purge_deletion_vectors` rewrites the table without
the masked rows (maintenance, so they do not pile up; erasure, so no file keeps a person's old rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from cdp.lake import Lake, Table


@dataclass(frozen=True)
class MaintenanceResult:
    table: str
    version_before: int
    version_after: int
    files_before: int
    files_after: int
    files_compacted: int
    files_vacuumed: int
    files_purged: int = 0  # files that carried deletion vectors, rewritten without their masked rows


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp: datetime
    operation: str
    metrics: dict


def maintain(lake: Lake, table: Table, *, retention_hours: int, compact: bool = True) -> MaintenanceResult:
    """Compact small files, checkpoint the log and vacuum files older than ``retention_hours``."""
    dt = DeltaTable(lake.uri(table))
    version_before, files_before = dt.version(), len(dt.file_uris())
    compacted = 0
    if compact and files_before > 1:
        metrics = dt.optimize.compact()
        compacted = int(metrics.get("numFilesRemoved", 0))
        dt = DeltaTable(lake.uri(table))
    # Compaction rewrites a file with a deletion vector only together with other small files, never alone.
    purged = purge_deletion_vectors(dt)
    if purged:
        dt = DeltaTable(lake.uri(table))
    dt.create_checkpoint()
    # enforce_retention_duration=False lets an operator choose retention below the table's default (7 days);
    # the setting itself is the guard, and time travel beyond it is given up on purpose.
    vacuumed = dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    dt = DeltaTable(lake.uri(table))
    return MaintenanceResult(
        table=table.qualified_name,
        version_before=version_before,
        version_after=dt.version(),
        files_before=files_before,
        files_after=len(dt.file_uris()),
        files_compacted=compacted,
        files_vacuumed=len(vacuumed),
        files_purged=purged,
    )


def maintain_all(lake: Lake, *, retention_hours: int, compact: bool = True) -> list[MaintenanceResult]:
    return [maintain(lake, table, retention_hours=retention_hours, compact=compact) for table in lake.tables()]


def history(lake: Lake, table: Table, limit: int | None = 20) -> list[HistoryEntry]:
    entries = DeltaTable(lake.uri(table)).history(limit)
    return [
        HistoryEntry(
            version=int(e["version"]),
            timestamp=datetime.fromtimestamp(e["timestamp"] / 1000, UTC),
            operation=str(e.get("operation", "")),
            metrics=dict(e.get("operationMetrics") or {}),
        )
        for e in entries
    ]


def row_count(lake: Lake, table: Table) -> int:
    """Rows in the current version, from the log's file statistics when present (no data scan), less the rows
    deletion vectors mask (the statistics count a file's rows as written)."""
    dt = DeltaTable(lake.uri(table))
    actions = dt.get_add_actions(flatten=True)
    if "num_records" in actions.schema.names:
        counts = [int(c) if c is not None else None for c in actions.column("num_records").to_pylist()]
        if counts and all(c is not None for c in counts):
            return sum(c for c in counts if c is not None) - _masked_rows(dt)
    return sum(batch.num_rows for batch in pa.RecordBatchReader.from_stream(dt.scan(columns=[])))


def has_deletion_vectors(dt: DeltaTable) -> bool:
    return "deletionVectors" in (dt.protocol().reader_features or [])


def _masked_rows(dt: DeltaTable) -> int:
    if not has_deletion_vectors(dt):
        return 0
    vectors = pa.RecordBatchReader.from_stream(dt.deletion_vectors()).read_all()
    if vectors.num_rows == 0:
        return 0
    keep = pc.list_flatten(vectors.column("selection_vector"))
    return len(keep) - int(pc.sum(keep).as_py() or 0)


def read_arrow(uri: str, columns: list[str] | None = None) -> pa.Table:
    """The current version of a Delta table as Arrow, deletion vectors applied, in the table's own column types."""
    dt = DeltaTable(uri)
    schema = pa.schema(dt.schema().to_arrow())
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    return pa.RecordBatchReader.from_stream(dt.scan(columns=columns)).read_all().cast(schema)


def purge_deletion_vectors(dt: DeltaTable) -> int:
    """Rewrite the table without the rows its deletion vectors mask (one overwrite commit; the old files go at the
    next vacuum); returns how many files carried deletion vectors (0: nothing rewritten)."""
    if not has_deletion_vectors(dt):
        return 0
    with_vectors = pa.RecordBatchReader.from_stream(dt.deletion_vectors()).read_all().num_rows
    if with_vectors:
        # The whole table: deltalake has no way to rewrite only chosen files.
        write_deltalake(dt, read_arrow(dt.table_uri), mode="overwrite")
    return with_vectors
