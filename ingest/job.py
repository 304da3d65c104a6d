"""The bronze ingest job: landing files -> bronze and quarantine Delta tables, with an ingest log.

Per source (sources side by side, each in its own thread on the one Spark session): find the files, checksum them,
skip those already handled, frame and validate the rest on Spark, checkpoint the validated rows once, then append
accepted rows to ``bronze.<source>``, rejected rows and files to ``quarantine.<source>``, and one row per file to
``audit.ingest_log``. For every file, records in = accepted + quarantined + suppressed (records of erased people,
dropped: ``ingest.suppression``). A run is recorded as started and completed in ``audit.ingest_runs``; rows written
by a run that never completed (a crash) are removed at the start of the next run, so a retry never duplicates.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from cdp import lake as layout
from cdp.lake import Lake
from cdp.tables import append, delete_where, read_table
from ingest.contracts import SOURCES, SourceContract
from ingest.framing import RAW_SCHEMA, raw_records
from ingest.parsing import frame_and_parse, parsed_schema
from ingest.suppression import Suppressor, suppressor
from ingest.validation import (
    accepted_rows,
    find_repeats,
    missing_raw,
    per_file_counts,
    quarantined_rows,
    type_and_check,
    with_raw,
    with_repeats,
)

INGESTED, REJECTED, SKIPPED = "ingested", "rejected", "skipped_duplicate"
LOG_SCHEMA = (
    "run_id string, source string, file_path string, checksum string, size_bytes long, status string, "
    "records_in long, accepted long, quarantined long, reason string, ingested_at timestamp, suppressed long"
)
RUNS_SCHEMA = "run_id string, event string, sources string, at timestamp"
RUN_COLUMNS = ("_ingest_run_id", "_ingested_at")  # added to every bronze and quarantine row


class IngestAlreadyRunning(RuntimeError):
    """Another ingest holds the lake's ingest lock."""


@contextmanager
def ingest_lock(lake: Lake) -> Iterator[None]:
    """One ingest at a time per lake. With the lock held, a run recorded as started but never completed is
    certainly dead, so rolling it back is safe. (flock works on local and NFS lakes; on object storage the
    Dagster pool ``lake_writes`` is the guard.)"""
    path = lake.lock_path("ingest")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise IngestAlreadyRunning(
                f"another ingest is running on this lake ({holder}); wait for it to finish, or remove {path} "
                "if that process is gone"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class FileOutcome:
    source: str
    file_path: str
    checksum: str
    size_bytes: int
    status: str
    records_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    reason: str | None = None
    suppressed: int = 0  # records of erased people, dropped (neither bronze nor quarantine)

    @property
    def reconciles(self) -> bool:
        return self.records_in == self.accepted + self.quarantined + self.suppressed


@dataclass
class IngestReport:
    run_id: str
    started_at: datetime
    files: list[FileOutcome] = field(default_factory=list)
    rolled_back_runs: list[str] = field(default_factory=list)

    def total(self, attribute: str, status: str | None = None) -> int:
        return sum(getattr(f, attribute) for f in self.files if status is None or f.status == status)

    def by_source(self) -> dict[str, list[FileOutcome]]:
        grouped: dict[str, list[FileOutcome]] = {}
        for outcome in self.files:
            grouped.setdefault(outcome.source, []).append(outcome)
        return grouped

    @property
    def reconciles(self) -> bool:
        return all(f.reconciles for f in self.files)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(landing_root: Path, contract: SourceContract) -> list[Path]:
    """Every file under the source's folder (sub-folders included), in a stable order. Hidden files and
    markers such as ``_SUCCESS`` are not data; any other file is considered, so an unexpected one is logged."""
    folder = landing_root / contract.folder
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )


def _handled_checksums(spark: SparkSession, lake: Lake) -> dict[str, set[str]]:
    """checksum -> file paths already logged (ingested, rejected or skipped)."""
    if not lake.exists(layout.INGEST_LOG):
        return {}
    handled: dict[str, set[str]] = {}
    for row in read_table(spark, lake, layout.INGEST_LOG).select("checksum", "file_path").collect():
        handled.setdefault(row.checksum, set()).add(row.file_path)
    return handled


def _suppressed_hashes(spark: SparkSession, lake: Lake) -> frozenset[str]:
    """Every hash on the suppression list (a few per erased person; empty until the first erasure)."""
    if not lake.exists(layout.SUPPRESSION_LIST):
        return frozenset()
    rows = read_table(spark, lake, layout.SUPPRESSION_LIST).select("identifier_hash").distinct().collect()
    return frozenset(row.identifier_hash for row in rows)


def _roll_back_incomplete_runs(spark: SparkSession, lake: Lake) -> list[str]:
    if not lake.exists(layout.INGEST_RUNS):
        return []
    runs = read_table(spark, lake, layout.INGEST_RUNS)
    started = {r.run_id for r in runs.filter("event = 'started'").select("run_id").collect()}
    finished = {r.run_id for r in runs.filter("event <> 'started'").select("run_id").collect()}
    orphans = sorted(started - finished)
    if not orphans:
        return []
    ids = ", ".join(f"'{run_id}'" for run_id in orphans)
    for table in [layout.INGEST_LOG, *(layout.bronze(s) for s in SOURCES), *(layout.quarantine(s) for s in SOURCES)]:
        column = "run_id" if table == layout.INGEST_LOG else "_ingest_run_id"
        delete_where(spark, lake, table, f"{column} IN ({ids})")
    _record_run(spark, lake, orphans, "rolled_back", [])
    return orphans


def _record_run(spark: SparkSession, lake: Lake, run_ids: Iterable[str], event: str, sources: list[str]) -> None:
    now = datetime.now(UTC)
    rows = [(run_id, event, ",".join(sources), now) for run_id in run_ids]
    append(spark.createDataFrame(rows, RUNS_SCHEMA), lake, layout.INGEST_RUNS)


def _with_run(df: DataFrame, run_id: str, ingested_at: datetime) -> DataFrame:
    run_column, at_column = RUN_COLUMNS
    return df.withColumn(run_column, F.lit(run_id)).withColumn(at_column, F.lit(ingested_at))


def ingest_source(
    spark: SparkSession,
    lake: Lake,
    contract: SourceContract,
    files: list[tuple[Path, str]],
    *,
    run_id: str,
    ingested_at: datetime,
    max_record_bytes: int,
    suppress: Suppressor | None = None,
) -> list[FileOutcome]:
    """Frame, validate and write the given (path, checksum) files of one source; return one outcome per file."""
    if not files:
        return []
    listing = spark.createDataFrame(
        [(i, str(path), checksum) for i, (path, checksum) in enumerate(files)],
        "_file_order int, path string, checksum string",
    ).repartition(min(len(files), 64))  # one file per task, so files are framed in parallel
    # Framing and parsing in one Python function per file: DuckDB parses outside the GIL (ingest.parsing).
    parsed = listing.mapInArrow(frame_and_parse(contract, max_record_bytes, suppress), parsed_schema(contract))
    bronze_table, quarantine_table = layout.bronze(contract.name), layout.quarantine(contract.name)
    # Checkpoint (Sail's cache() is a no-op) so each output below reads columnar rows instead of re-parsing.
    # These files live for one run and are read whole: LZ4 (zstd's smaller files cost more CPU than they save) and
    # no column statistics (nothing prunes on them).
    staging = lake.staging_dir(run_id) / contract.name
    # The raw text, two thirds of the bytes, is checkpointed only for rows that may be quarantined (type_and_check).
    checkpoint = type_and_check(parsed, contract, raw_of_valid_rows=False).write.mode("overwrite")
    checkpoint.options(compression="lz4_raw", statistics_enabled="none").parquet(str(staging / "validated"))
    try:
        checked = spark.read.parquet(str(staging / "validated"))
        repeated = False
        if contract.dedupe_on:
            already = None
            if lake.exists(bronze_table):
                already = read_table(spark, lake, bronze_table).select(contract.dedupe_on)
            # Only the few repeats are written; each output below joins them back by broadcast.
            repeats_dir = staging / "repeats"
            find_repeats(checked, contract.dedupe_on, already).write.mode("overwrite").parquet(str(repeats_dir))
            repeated = any(repeats_dir.glob("*.parquet"))  # an empty result writes no file at all
            if repeated:
                checked = with_repeats(checked, spark.read.parquet(str(repeats_dir)))

        def count_and_quarantine() -> dict[str, Row]:
            counts = {row._source_file: row for row in per_file_counts(checked).collect()}
            if any(row.quarantined or row.file_error for row in counts.values()):
                quarantined = quarantined_rows(checked)
                if repeated:  # duplicates of another file or run that were valid rows: their raw text from the files
                    reread = missing_raw(quarantined).repartition(min(len(files), 64), "_source_file")
                    quarantined = with_raw(
                        quarantined, reread.mapInArrow(raw_records(contract, max_record_bytes), RAW_SCHEMA)
                    )
                append(_with_run(quarantined, run_id, ingested_at), lake, quarantine_table)
            return counts

        # Both read the checkpoint and write different tables: side by side, the short single-threaded stretches of
        # one (planning, the Delta commit, the counts) overlap the other's work. Leaving the pool waits for both.
        with ThreadPoolExecutor(max_workers=2) as pool:
            bronze = pool.submit(
                append, _with_run(accepted_rows(checked, contract), run_id, ingested_at), lake, bronze_table
            )
            counted = pool.submit(count_and_quarantine)
        bronze.result()
        counts = counted.result()
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    outcomes = []
    for path, checksum in files:
        row = counts.get(str(path))
        size = path.stat().st_size if path.exists() else 0
        if row is not None and row.file_error:
            outcomes.append(FileOutcome(contract.name, str(path), checksum, size, REJECTED, reason=row.file_error))
        elif row is None:  # no records at all: only blank lines or a bare header
            outcomes.append(FileOutcome(contract.name, str(path), checksum, size, INGESTED))
        else:
            outcomes.append(
                FileOutcome(
                    contract.name,
                    str(path),
                    checksum,
                    size,
                    INGESTED,
                    records_in=row.records_in,
                    accepted=row.accepted,
                    quarantined=row.quarantined,
                    suppressed=row.suppressed,
                )
            )
    return outcomes


def run_ingest(
    spark: SparkSession,
    lake: Lake,
    landing_root: Path,
    *,
    sources: Iterable[str] | None = None,
    max_record_bytes: int = 1_048_576,
    progress: Callable[[str, int, int], None] | None = None,
    default_phone_region: str = "VN",
) -> IngestReport:
    """Ingest every new landing file of the given sources (default: all). Safe to re-run at any time; raises
    IngestAlreadyRunning while another ingest is writing to the same lake. ``default_phone_region`` reads phones
    without a country code when matching them against the suppression list (as identity resolution reads them).
    Sources are ingested side by side; ``progress(source, sources_finished, sources)`` is called as each one
    finishes, and ``progress("done", sources, sources)`` once the ingest log is written."""
    with ingest_lock(lake):
        return _run_ingest(spark, lake, landing_root, sources, max_record_bytes, progress, default_phone_region)


def _run_ingest(
    spark: SparkSession,
    lake: Lake,
    landing_root: Path,
    sources: Iterable[str] | None,
    max_record_bytes: int,
    progress: Callable[[str, int, int], None] | None,
    default_phone_region: str,
) -> IngestReport:
    from spark_jobs.rules import load_rules as load_identity_rules

    contracts = [SOURCES[s] for s in (sources or SOURCES)]
    started_at = datetime.now(UTC)
    report = IngestReport(run_id=f"ingest-{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", started_at=started_at)
    report.rolled_back_runs = _roll_back_incomplete_runs(spark, lake)
    _record_run(spark, lake, [report.run_id], "started", [c.name for c in contracts])
    handled = _handled_checksums(spark, lake)
    hashes = _suppressed_hashes(spark, lake)
    identity_rules = load_identity_rules() if hashes else None
    suppressors = {
        c.name: suppressor(c.name, hashes, identity_rules, default_phone_region) if identity_rules else None
        for c in contracts
    }
    skipped: dict[str, list[FileOutcome]] = {c.name: [] for c in contracts}
    new_files: dict[str, list[tuple[Path, str]]] = {c.name: [] for c in contracts}
    for contract in contracts:  # in source order: the first of two equal files is the one ingested
        for path in discover(landing_root, contract):
            checksum = file_checksum(path)
            if checksum in handled:  # same bytes already handled, under this name or another
                if str(path) not in handled[checksum]:
                    first = sorted(handled[checksum])[0]
                    skipped[contract.name].append(
                        FileOutcome(
                            contract.name,
                            str(path),
                            checksum,
                            path.stat().st_size,
                            SKIPPED,
                            reason=f"same content as {first}",
                        )
                    )
                    handled[checksum].add(str(path))
                continue
            handled[checksum] = {str(path)}
            new_files[contract.name].append((path, checksum))

    finished = [0]
    lock = threading.Lock()

    def ingest(contract: SourceContract) -> list[FileOutcome]:
        outcomes = ingest_source(
            spark,
            lake,
            contract,
            new_files[contract.name],
            run_id=report.run_id,
            ingested_at=started_at,
            max_record_bytes=max_record_bytes,
            suppress=suppressors[contract.name],
        )
        with lock:  # reported as each source finishes: they all start at once
            finished[0] += 1
            if progress:
                progress(contract.name, finished[0], len(contracts))
        return outcomes

    # Sources are independent (their own files and tables): all ingested side by side, so one source's fixed costs
    # (planning, Delta commits, a lone file's task) overlap another's work. Leaving the pool waits for every source;
    # a failure is raised after that, and the run stays unfinished (rolled back by the next run) as before.
    with ThreadPoolExecutor(max_workers=len(contracts)) as pool:
        ingested = [pool.submit(ingest, contract) for contract in contracts]
    for contract, outcomes in zip(contracts, ingested, strict=True):
        report.files += skipped[contract.name] + outcomes.result()
    if report.files:
        rows = [
            (
                report.run_id,
                f.source,
                f.file_path,
                f.checksum,
                f.size_bytes,
                f.status,
                f.records_in,
                f.accepted,
                f.quarantined,
                f.reason,
                started_at,
                f.suppressed,
            )
            for f in report.files
        ]
        append(spark.createDataFrame(rows, LOG_SCHEMA), lake, layout.INGEST_LOG)
    _record_run(spark, lake, [report.run_id], "completed", [c.name for c in contracts])
    shutil.rmtree(lake.staging_dir(report.run_id), ignore_errors=True)
    if progress:
        progress("done", len(contracts), len(contracts))
    return report
