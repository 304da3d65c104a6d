"""The bronze suites and the reconciliation, on a tiny landing zone ingested with run_ingest on Spark (Sail)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from cdp import lake as layout
from cdp.tables import append, read_table
from expectations.reconciliation import quarantine_rate, reconciliation
from expectations.suites import bronze_suite, validate_bronze, validate_dataframe
from ingest.contracts import SOURCES


def _rules(source: str) -> set[tuple[str, str, str]]:
    return {(e.meta["rule"], e.expectation_type, e.column) for e in bronze_suite(SOURCES[source]).expectations}


def test_suite_is_built_from_the_contract() -> None:
    rules = _rules("events")
    assert ("record_id", "expect_column_values_to_not_be_null", "messageId") in rules
    assert {("required", "expect_column_values_to_not_be_null", c) for c in ("type", "timestamp")} <= rules
    assert {c for rule, _, c in rules if rule == "accepted_values"} == {"type", "context_channel"}
    assert ("unique", "expect_column_values_to_be_unique", "messageId") in rules
    assert {c for rule, _, c in rules if rule == "lineage"} == {
        "_source_file",
        "_row_number",
        "_file_checksum",
        "_ingest_run_id",
        "_ingested_at",
    }
    # The record id is also a required field: it is expected once, not twice.
    assert sum(1 for _, kind, c in rules if c == "messageId" and kind.endswith("not_be_null")) == 1
    # No dedupe key, no uniqueness expectation; an optional enum is still checked against its values.
    crm = _rules("crm_contacts")
    assert not any(rule == "unique" for rule, _, _ in crm)
    assert ("accepted_values", "expect_column_values_to_be_in_set", "gender") in crm


def test_every_source_has_a_suite() -> None:
    for name, contract in SOURCES.items():
        columns = {e.column for e in bronze_suite(contract).expectations}
        assert set(contract.required_fields) <= columns, name


def test_suites_and_reconciliation_pass_on_ingested_data(spark: SparkSession, ingested) -> None:
    expected = {"events": (6, 3, 3), "crm_contacts": (3, 2, 1)}
    for source, (records_in, accepted, quarantined) in expected.items():
        validation = validate_bronze(spark, ingested.lake, source)
        assert validation.exists and validation.success, [o.describe() for o in validation.failures]
        assert validation.row_count == accepted
        assert all(o.unexpected_count == 0 for o in validation.outcomes)

        result = reconciliation(spark, ingested.lake, source)
        assert result.success, result.mismatches
        assert (result.files_checked, result.records_in, result.accepted, result.quarantined) == (
            1,
            records_in,
            accepted,
            quarantined,
        )
        assert (result.bronze_rows, result.quarantine_rows) == (accepted, quarantined)


def test_a_source_without_data_is_reported_not_failed(spark: SparkSession, ingested) -> None:
    validation = validate_bronze(spark, ingested.lake, "orders")
    assert (validation.exists, validation.success, validation.outcomes) == (False, True, ())
    result = reconciliation(spark, ingested.lake, "orders")
    assert result.success and not result.has_data
    assert quarantine_rate(spark, ingested.lake, "orders").run_id is None


def test_an_extra_bronze_row_breaks_reconciliation_and_uniqueness(spark: SparkSession, ingested) -> None:
    events = layout.bronze("events")
    append(read_table(spark, ingested.lake, events).filter(F.col("messageId") == "msg-0002"), ingested.lake, events)

    result = reconciliation(spark, ingested.lake, "events")
    assert not result.success
    assert result.mismatch_count == 1
    (mismatch,) = result.mismatches
    assert (mismatch.accepted, mismatch.bronze_rows, mismatch.problems) == (3, 4, "bronze rows != accepted")
    assert mismatch.file_path.endswith("events/2024-03-01.jsonl")

    validation = validate_bronze(spark, ingested.lake, "events")
    assert not validation.success
    (failure,) = validation.failures
    assert (failure.rule, failure.column, failure.unexpected_count) == ("unique", "messageId", 2)
    assert "msg-0002" not in repr(validation)  # counts only, never the values


def test_rows_without_a_log_entry_and_lost_quarantine_rows_are_reported(spark: SparkSession, ingested) -> None:
    bronze, quarantine = layout.bronze("crm_contacts"), layout.quarantine("crm_contacts")
    stray = read_table(spark, ingested.lake, bronze).limit(1).withColumn("_ingest_run_id", F.lit("ingest-unknown"))
    append(stray, ingested.lake, bronze)
    spark.sql(f"DELETE FROM delta.`{ingested.lake.uri(quarantine)}`")

    result = reconciliation(spark, ingested.lake, "crm_contacts")
    assert sorted(m.problems for m in result.mismatches) == [
        "quarantine rows != quarantined",
        "rows without an ingest-log entry",
    ]
    orphan = next(m for m in result.mismatches if m.status is None)
    assert (orphan.run_id, orphan.bronze_rows) == ("ingest-unknown", 1)


def test_contract_violations_are_counted_without_their_values(spark: SparkSession, ingested) -> None:
    bronze = read_table(spark, ingested.lake, layout.bronze("events"))
    tampered = bronze.withColumn(
        "type", F.when(F.col("messageId") == "msg-0003", F.lit("ana@example.com")).otherwise(F.col("type"))
    ).withColumn("_ingest_run_id", F.lit(None).cast("string"))
    outcomes = validate_dataframe(tampered, SOURCES["events"])
    failed = {(o.rule, o.column): o.unexpected_count for o in outcomes if not o.success}
    assert failed == {("accepted_values", "type"): 1, ("lineage", "_ingest_run_id"): 3}
    assert "ana@example.com" not in repr(outcomes)


def test_quarantine_rate_of_the_latest_run(spark: SparkSession, ingested) -> None:
    rate = quarantine_rate(spark, ingested.lake, "events")
    assert rate.run_id == ingested.report.run_id
    assert (rate.records_in, rate.quarantined, rate.rejected_files) == (6, 3, 0)
    assert rate.rate == 0.5 and not rate.acceptable
    assert quarantine_rate(spark, ingested.lake, "events", threshold=0.5).acceptable
