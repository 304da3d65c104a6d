"""Great Expectations suites for the marts others read (``gold.customers``, ``gold.customer_traits``).

dbt's own tests guard keys and contracts while the models build; these suites run as Dagster asset checks on the
Delta tables the consumers (Feast, activation, the console) actually read, with the ranges and sets each trait
promises (README, "Trait definitions"). Counts only, never a value: the golden record is personal data.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from pyspark.sql import SparkSession

from cdp import lake as layout
from cdp.lake import Lake, Table
from cdp.tables import read_table
from expectations.suites import ExpectationOutcome, run_suite

VALUE_SEGMENTS = [
    "champions", "loyal", "new_customers", "potential_loyalists", "cant_lose_them", "at_risk", "need_attention",
    "about_to_sleep", "hibernating", "lost", "prospect",
]  # fmt: skip
AGE_BANDS = ["under_18", "18_24", "25_34", "35_44", "45_54", "55_64", "65_plus", "unknown"]


def _key(column: str) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=column, meta={"rule": "key"}),
        gxe.ExpectColumnValuesToBeUnique(column=column, meta={"rule": "key"}),
    ]


def _between(column: str, low: float, high: float | None = None) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, meta={"rule": "range"})


def _in_set(column: str, values: list[str]) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values, meta={"rule": "accepted_values"})


def customers_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="gold.customers",
        expectations=[
            *_key("customer_id"),
            gxe.ExpectColumnValuesToMatchRegex(column="customer_id", regex=r"^cus_[0-9a-f]{16}$", meta={"rule": "id"}),
            gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=r"^\+[1-9][0-9]{6,14}$", meta={"rule": "e164"}),
            gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"^[^@\s]+@[^@\s]+$", meta={"rule": "email"}),
            _in_set("gender", ["female", "male", "other", "unknown"]),
            _between("source_records", 1),
            gxe.ExpectColumnValuesToNotBeNull(column="first_seen_at", meta={"rule": "lineage"}),
        ],
    )


def customer_traits_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="gold.customer_traits",
        expectations=[
            *_key("customer_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="as_of", meta={"rule": "as_of"}),
            _between("frequency", 0),
            _between("recency_days", 0),
            _between("tenure_days", 0),
            _between("r_score", 1, 5),
            _between("f_score", 1, 5),
            _between("m_score", 1, 5),
            _between("p_alive", 0, 1),
            _between("churn_risk", 0, 1),
            _between("expected_purchases_365d", 0),
            _between("open_cases", 0),
            _in_set("value_segment", VALUE_SEGMENTS),
            _in_set("age_band", AGE_BANDS),
            _in_set("churn_risk_band", ["high", "medium", "low", "unknown"]),
            gxe.ExpectColumnValuesToNotBeNull(column="consent_marketing_email", meta={"rule": "consent_default_no"}),
        ],
    )


def mart_suites() -> dict[Table, gx.ExpectationSuite]:
    return {layout.CUSTOMERS: customers_suite(), layout.CUSTOMER_TRAITS: customer_traits_suite()}


def validate_mart(spark: SparkSession, lake: Lake, table: Table) -> tuple[ExpectationOutcome, ...]:
    """Validate one mart's Delta table with its suite."""
    if not lake.exists(table):
        raise FileNotFoundError(f"{table} does not exist under {lake.root}: build the marts first")
    return run_suite(read_table(spark, lake, table), mart_suites()[table])
