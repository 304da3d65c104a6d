"""Reconciliation of the ingest log with the bronze and quarantine tables, and the quarantine rate.

The ingest log (``audit.ingest_log``) says, per landing file and run, how many records were read, accepted and
quarantined. :func:`reconciliation` checks those numbers against themselves (records in = accepted + quarantined
+ suppressed, the records of erased people the ingest dropped) and against the rows actually in ``bronze.<source>``
and ``quarantine.<source>``, in both directions: a file whose rows went missing and rows that no log entry accounts
for are both reported. :func:`quarantine_rate` measures how
much of the latest ingested data was turned away. Both aggregate in Spark and bring back counts only.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from cdp import lake as layout
from cdp.lake import Lake, Table
from cdp.settings import Settings
from cdp.tables import read_table
from ingest.job import LOG_SCHEMA, REJECTED

# The declared default of CDP_MAX_QUARANTINE_RATE (the field's default, not the environment: no config at import).
DEFAULT_MAX_QUARANTINE_RATE: float = Settings.model_fields["max_quarantine_rate"].default
_KEY = ("run_id", "file_path", "checksum")  # one ingest-log row: a file's content, handled by one run
_MAX_REPORTED = 20  # mismatching files listed in full; the total is always counted


@dataclass(frozen=True)
class FileMismatch:
    """A landing file (or a group of unaccounted rows) whose numbers do not add up."""

    run_id: str | None
    file_path: str | None
    status: str | None  # None: rows in bronze or quarantine that no ingest-log row accounts for
    records_in: int | None
    accepted: int | None
    quarantined: int | None
    bronze_rows: int
    quarantine_rows: int
    problems: str


@dataclass(frozen=True)
class Reconciliation:
    source: str
    files_checked: int  # ingest-log rows of the source
    records_in: int
    accepted: int
    quarantined: int
    bronze_rows: int
    quarantine_rows: int  # record rows only; a rejected file's single whole-file row is checked separately
    mismatch_count: int
    mismatches: tuple[FileMismatch, ...] = ()  # the first few, ordered by run and file

    @property
    def success(self) -> bool:
        return self.mismatch_count == 0

    @property
    def has_data(self) -> bool:
        return self.files_checked > 0 or self.bronze_rows > 0 or self.quarantine_rows > 0


@dataclass(frozen=True)
class QuarantineRate:
    source: str
    run_id: str | None  # the latest run that read records (or rejected a file) of this source
    records_in: int
    quarantined: int
    rejected_files: int  # whole files turned away: their records are not even counted in records_in
    all_time_records_in: int
    all_time_quarantined: int
    threshold: float

    @property
    def rate(self) -> float:
        return self.quarantined / self.records_in if self.records_in else 0.0

    @property
    def acceptable(self) -> bool:
        return self.rate <= self.threshold and self.rejected_files == 0


def _log(spark: SparkSession, lake: Lake, source: str) -> DataFrame | None:
    if not lake.exists(layout.INGEST_LOG):
        return None
    return read_table(spark, lake, layout.INGEST_LOG).filter(F.col("source") == source)


def _single_row(df: DataFrame) -> Row:
    """The one row of a global aggregate (never missing, even over no rows)."""
    row = df.first()
    assert row is not None, "a global aggregate always returns one row"
    return row


def _row_counts(spark: SparkSession, lake: Lake, table: Table, counts: dict[str, Column]) -> DataFrame | None:
    """Rows per (run, file, checksum) of a bronze or quarantine table, with the given named counts."""
    if not lake.exists(table):
        return None
    return (
        read_table(spark, lake, table)
        .groupBy(
            F.col("_ingest_run_id").alias("run_id"),
            F.col("_source_file").alias("file_path"),
            F.col("_file_checksum").alias("checksum"),
        )
        .agg(*[count.alias(name) for name, count in counts.items()])
    )


def reconciliation(spark: SparkSession, lake: Lake, source: str) -> Reconciliation:
    """Check every ingest-log row of ``source`` against itself and against bronze and quarantine row counts."""
    is_record = F.col("_row_number").isNotNull()
    log = _log(spark, lake, source)
    bronze_counts = _row_counts(spark, lake, layout.bronze(source), {"bronze_rows": F.count(F.lit(1))})
    quarantine_counts = _row_counts(
        spark,
        lake,
        layout.quarantine(source),
        {
            "quarantine_rows": F.count(F.when(is_record, 1)),
            "whole_file_rows": F.count(F.when(~is_record, 1)),  # one per rejected file
        },
    )
    counts = [df for df in (bronze_counts, quarantine_counts) if df is not None]
    if log is None and not counts:
        return Reconciliation(source, 0, 0, 0, 0, 0, 0, 0)
    if log is None:  # rows but no ingest log at all: every one of them is unaccounted for
        log = spark.createDataFrame([], LOG_SCHEMA)
    # A log written before suppression existed has no such column: nothing was suppressed then.
    suppressed = F.coalesce(F.col("suppressed"), F.lit(0)) if "suppressed" in log.columns else F.lit(0)
    joined = log.select(*_KEY, "status", "records_in", "accepted", "quarantined", suppressed.alias("suppressed"))
    for side in counts:
        # Full outer: rows whose (run, file, checksum) the log does not know come through with a null status.
        joined = joined.join(side, list(_KEY), "full_outer")
    for column in ("bronze_rows", "quarantine_rows", "whole_file_rows"):
        joined = joined.withColumn(
            column, F.coalesce(F.col(column), F.lit(0)) if column in joined.columns else F.lit(0)
        )

    in_log = F.col("status").isNotNull()
    problems = F.concat_ws(
        "; ",
        F.when(~in_log, F.lit("rows without an ingest-log entry")),
        F.when(
            in_log & (F.col("records_in") != F.col("accepted") + F.col("quarantined") + F.col("suppressed")),
            F.lit("records_in != accepted + quarantined + suppressed"),
        ),
        F.when(in_log & (F.col("bronze_rows") != F.col("accepted")), F.lit("bronze rows != accepted")),
        F.when(in_log & (F.col("quarantine_rows") != F.col("quarantined")), F.lit("quarantine rows != quarantined")),
        F.when(
            in_log & (F.col("whole_file_rows") != F.when(F.col("status") == REJECTED, 1).otherwise(0)),
            F.lit("a rejected file needs exactly one whole-file quarantine row"),
        ),
    )
    checked = joined.withColumn("problems", problems)
    aggregated = checked.agg(
        F.count(F.when(in_log, 1)).alias("files_checked"),
        F.coalesce(F.sum("records_in"), F.lit(0)).alias("records_in"),
        F.coalesce(F.sum("accepted"), F.lit(0)).alias("accepted"),
        F.coalesce(F.sum("quarantined"), F.lit(0)).alias("quarantined"),
        F.coalesce(F.sum("bronze_rows"), F.lit(0)).alias("bronze_rows"),
        F.coalesce(F.sum("quarantine_rows"), F.lit(0)).alias("quarantine_rows"),
        F.count(F.when(F.col("problems") != "", 1)).alias("mismatch_count"),
    )
    totals = _single_row(aggregated)
    sample = (
        checked.filter(F.col("problems") != "")
        .orderBy(F.col("run_id").asc_nulls_first(), F.col("file_path").asc_nulls_first())
        .limit(_MAX_REPORTED)
        .collect()
    )
    return Reconciliation(
        source=source,
        files_checked=int(totals.files_checked),
        records_in=int(totals.records_in),
        accepted=int(totals.accepted),
        quarantined=int(totals.quarantined),
        bronze_rows=int(totals.bronze_rows),
        quarantine_rows=int(totals.quarantine_rows),
        mismatch_count=int(totals.mismatch_count),
        mismatches=tuple(
            FileMismatch(
                run_id=row.run_id,
                file_path=row.file_path,
                status=row.status,
                records_in=row.records_in,
                accepted=row.accepted,
                quarantined=row.quarantined,
                bronze_rows=int(row.bronze_rows),
                quarantine_rows=int(row.quarantine_rows),
                problems=row.problems,
            )
            for row in sample
        ),
    )


def quarantine_rate(
    spark: SparkSession, lake: Lake, source: str, *, threshold: float = DEFAULT_MAX_QUARANTINE_RATE
) -> QuarantineRate:
    """Share of records quarantined by the latest run that read this source (and all time, for context)."""
    log = _log(spark, lake, source)
    if log is None:
        return QuarantineRate(source, None, 0, 0, 0, 0, 0, threshold)
    rejected = F.count(F.when(F.col("status") == REJECTED, 1))
    per_run = log.groupBy("run_id", "ingested_at").agg(
        F.sum("records_in").alias("records_in"), F.sum("quarantined").alias("quarantined"), rejected.alias("rejected")
    )
    # Runs that only skipped duplicates read nothing; the latest run that read something is the one to judge.
    latest = (
        per_run.filter("records_in > 0 or rejected > 0")
        .orderBy(F.col("ingested_at").desc(), F.col("run_id").desc())
        .limit(1)
        .collect()
    )
    totals = _single_row(
        log.agg(
            F.coalesce(F.sum("records_in"), F.lit(0)).alias("records_in"),
            F.coalesce(F.sum("quarantined"), F.lit(0)).alias("quarantined"),
        )
    )
    run = latest[0] if latest else None
    return QuarantineRate(
        source=source,
        run_id=run.run_id if run else None,
        records_in=int(run.records_in) if run else 0,
        quarantined=int(run.quarantined) if run else 0,
        rejected_files=int(run.rejected) if run else 0,
        all_time_records_in=int(totals.records_in),
        all_time_quarantined=int(totals.quarantined),
        threshold=threshold,
    )
