"""Great Expectations suites for the bronze tables, derived from the landing contracts.

Nothing is listed by hand: :func:`bronze_suite` reads a :class:`~ingest.contracts.SourceContract` and expects what
the ingest job promises for every accepted row (required fields and the record id present, enum fields within
their accepted values, the dedupe key unique across all time, lineage filled in). :func:`validate_bronze` runs the
suite on the bronze table through Spark (Sail validates directly, no JVM) and returns counts only: never a value
from the data, because bronze holds personal data and these results end up in logs and the Dagster UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from pyspark.sql import DataFrame, SparkSession

from cdp import lake as layout
from cdp.lake import Lake
from cdp.tables import read_table
from ingest.contracts import SOURCES, SourceContract
from ingest.job import RUN_COLUMNS
from ingest.validation import LINEAGE_COLUMNS

# Added by the ingest job to every bronze row (ingest.job._with_run); there is no public constant for them.
# Counts only: GX would otherwise copy up to 20 offending values (emails, phones) into every result.
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
_MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: what was expected of which column, and how many rows broke it."""

    rule: str  # required | record_id | accepted_values | unique | lineage
    expectation: str  # the GX expectation type, e.g. expect_column_values_to_not_be_null
    column: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    error: str | None = None  # first line of the exception when the expectation could not run

    def describe(self) -> str:
        if self.error:
            return f"{self.rule} {self.column}: could not run ({self.error})"
        return f"{self.rule} {self.column}: {self.unexpected_count or 0} of {self.element_count or 0} rows unexpected"


@dataclass(frozen=True)
class BronzeValidation:
    """The suite's verdict on one bronze table; ``exists`` is False when the source has no bronze table yet."""

    source: str
    exists: bool
    row_count: int
    outcomes: tuple[ExpectationOutcome, ...] = ()

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    @property
    def unexpected_rows(self) -> int:
        """Sum of unexpected counts over failed expectations (a row breaking two rules counts twice)."""
        return sum(o.unexpected_count or 0 for o in self.failures)


def bronze_suite(contract: SourceContract) -> gx.ExpectationSuite:
    """The expectation suite for ``bronze.<source>``, built from the contract (one expectation per rule and column)."""
    # Keyed by (rule kind, column) so the record id, which every contract also lists as required, is expected once.
    expectations: dict[tuple[str, str], gxe.Expectation] = {}

    def add(key: tuple[str, str], rule: str, expectation: type[gxe.Expectation], **kwargs: Any) -> None:
        expectations.setdefault(key, expectation(meta={"rule": rule}, **kwargs))

    add(("not_null", contract.record_id), "record_id", gxe.ExpectColumnValuesToNotBeNull, column=contract.record_id)
    for name in contract.required_fields:
        add(("not_null", name), "required", gxe.ExpectColumnValuesToNotBeNull, column=name)
    for field in contract.fields:
        if field.accepted_values:
            # Nulls are not judged here: an optional enum may be null, a required one is covered above.
            add(
                ("in_set", field.name),
                "accepted_values",
                gxe.ExpectColumnValuesToBeInSet,
                column=field.name,
                value_set=list(field.accepted_values),
            )
    if contract.dedupe_on:
        add(("unique", contract.dedupe_on), "unique", gxe.ExpectColumnValuesToBeUnique, column=contract.dedupe_on)
    for name in (*LINEAGE_COLUMNS, *RUN_COLUMNS):
        add(("not_null", name), "lineage", gxe.ExpectColumnValuesToNotBeNull, column=name)
    return gx.ExpectationSuite(name=f"bronze.{contract.name}", expectations=list(expectations.values()))


def _context() -> gx.data_context.EphemeralDataContext:
    """A fresh in-memory context: no files, no docs sites, no progress bars in the run logs."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,  # the platform runs offline; nothing is reported anywhere
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _first_line(message: str | None) -> str | None:
    if not message:
        return None
    return message.strip().splitlines()[0][:_MAX_ERROR_CHARS]


def run_suite(df: DataFrame, suite: gx.ExpectationSuite) -> tuple[ExpectationOutcome, ...]:
    """Run ``suite`` on any Spark DataFrame; counts only, never a value from the data."""
    context = _context()
    batch_definition = (
        context.data_sources.add_spark(name="lake")
        .add_dataframe_asset(name=suite.name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    suite = context.suites.add(suite)
    result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
        suite, result_format=_RESULT_FORMAT
    )
    outcomes = []
    for r in result.results:
        config, details, exception = r.expectation_config, r.result or {}, r.exception_info or {}
        assert config is not None, "GX attaches its configuration to every expectation result"
        raised = bool(exception.get("raised_exception"))
        outcomes.append(
            ExpectationOutcome(
                rule=str(config.meta.get("rule", "")),
                expectation=config.type,
                column=str(config.kwargs.get("column", "")),
                success=bool(r.success),
                element_count=details.get("element_count"),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                error=_first_line(exception.get("exception_message")) if raised else None,
            )
        )
    return tuple(outcomes)


def validate_dataframe(df: DataFrame, contract: SourceContract) -> tuple[ExpectationOutcome, ...]:
    """Run the contract's bronze suite on any Spark DataFrame with the bronze columns."""
    return run_suite(df, bronze_suite(contract))


def validate_bronze(spark: SparkSession, lake: Lake, source: str) -> BronzeValidation:
    """Validate ``bronze.<source>`` against its contract suite; a missing table is reported, not failed."""
    contract = SOURCES[source]
    table = layout.bronze(source)
    if not lake.exists(table):
        return BronzeValidation(source=source, exists=False, row_count=0)
    df = read_table(spark, lake, table)
    return BronzeValidation(source=source, exists=True, row_count=df.count(), outcomes=validate_dataframe(df, contract))
