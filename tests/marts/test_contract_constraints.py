"""Value checks of the marts as contract constraints: a row that breaks one fails its model's node before the mart
reaches the lake, and DuckDB holds each check on the table it guards.

The not_null, accepted_values and value_between checks of the marts with enforced contracts are constraints of the
contract (``constraints:`` in the schema files), which DuckDB enforces while the model's table is filled, instead of
one dbt test node each (30 fewer nodes in every build, BENCHMARKS.md, issue 5).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import BuildFailed, build_marts
from tests.marts.conftest import AS_OF, LakeWriter, ts


def _response(response_id: str, survey_type: str) -> dict:
    return {"response_id": response_id, "survey_type": survey_type, "score": 9, "customer_ref": "cus_s",
            "responded_at": ts("2025-05-01T10:00:00")}  # fmt: skip


def test_a_value_outside_a_mart_s_accepted_values_fails_its_model_and_never_reaches_the_lake(lake: Lake) -> None:
    writer = LakeWriter(lake)
    writer.bronze("survey_responses", [_response("r-ok", "NPS"), _response("r-bad", "NPS-typo")])
    writer.link("cus_s", "survey_responses", "r-ok", ts("2025-05-01T10:00:00"))
    writer.link("cus_s", "survey_responses", "r-bad", ts("2025-05-01T10:00:00"))
    writer.write_identity()

    with pytest.raises(BuildFailed, match=r"model\.cdp\.cx_survey_responses \(error\)"):
        build_marts(lake, as_of=AS_OF)
    # a test node would have run after the model had written the bad row to gold
    assert not lake.exists(layout.CX_SURVEY_RESPONSES)


def _one_order(lake: Lake) -> None:
    """One delivered web order of one customer: every mart gets a row."""
    writer = LakeWriter(lake)
    writer.bronze("orders", [{"order_id": "o-1", "customer_ref": "cus_a", "channel": "web", "status": "delivered",
                              "ordered_at": ts("2025-03-01T10:00:00"), "currency": "VND",
                              "total_amount": 100_000}])  # fmt: skip
    writer.link("cus_a", "orders", "o-1", ts("2025-03-01T10:00:00"))
    writer.write_identity()


def test_every_moved_check_is_a_constraint_of_its_table(lake: Lake) -> None:
    """(customer_traits is a view over its Delta table: its checks are tested as its rows stream to the lake, below.)"""
    _one_order(lake)
    build_marts(lake, as_of=AS_OF)

    con = duckdb.connect(str(lake.marts_dir() / "marts.duckdb"))  # the database dbt holds open in this process
    found = set(
        con.execute(
            """select table_name, unnest(constraint_column_names), constraint_type
            from duckdb_constraints() where constraint_type in ('CHECK', 'NOT NULL')"""
        ).fetchall()
    )
    con.close()
    expected = {
        ("audience_memberships", "audience_name", "NOT NULL"),
        ("cross_channel_journeys", "journey_pattern", "NOT NULL"),
        ("cross_channel_journeys", "journey_pattern", "CHECK"),
        ("customer_consent_history", "customer_id", "NOT NULL"),
        ("customer_contact_history", "customer_id", "NOT NULL"),
        ("customer_retention_cohorts", "retention_rate", "CHECK"),
        ("customer_retention_cohorts", "repeat_purchase_rate", "CHECK"),
        ("cx_cases", "status", "CHECK"),
        ("cx_key_drivers", "survey_type", "CHECK"),
        ("cx_key_drivers", "driver", "CHECK"),
        ("cx_key_drivers", "status", "NOT NULL"),
        ("cx_key_drivers", "status", "CHECK"),
        ("cx_key_drivers", "importance", "CHECK"),
        ("cx_survey_metrics", "dimension", "CHECK"),
        ("cx_survey_metrics", "period_grain", "CHECK"),
        ("cx_survey_responses", "survey_type", "CHECK"),
        ("cx_text_insights", "source", "NOT NULL"),
        ("cx_text_insights", "source", "CHECK"),
        ("cx_text_insights", "source_id", "NOT NULL"),
        ("cx_text_insights", "sentiment_label", "NOT NULL"),
        ("cx_text_insights", "sentiment_label", "CHECK"),
        ("cx_text_insights", "language", "CHECK"),
        ("journey_funnel", "step", "CHECK"),
        ("journey_funnel", "conversion_from_previous", "CHECK"),
        ("journey_funnel", "conversion_from_top", "CHECK"),
        ("journey_cart_abandonment", "abandonment_rate", "CHECK"),
        ("support_service_metrics", "first_contact_resolution_rate", "CHECK"),
    }
    assert expected <= found, sorted(expected - found)


def test_a_row_breaking_a_check_of_a_lake_view_mart_fails_its_node_and_the_lake_keeps_the_last_build(
    lake: Lake, project_copy: Path
) -> None:
    """customer_traits (delta_lake_view) has no DuckDB table to hold its checks: they are tested on its rows as they
    stream to the lake. A segment outside the accepted list (an edited rfm_segments seed, on a copy of the project)
    fails the node, and gold.customer_traits keeps the last build's version."""
    _one_order(lake)
    build_marts(lake, as_of=AS_OF)
    traits = DeltaTable(lake.uri(layout.CUSTOMER_TRAITS))
    version, rows = traits.version(), traits.to_pyarrow_table().to_pylist()
    assert [row["value_segment"] for row in rows] == ["lost"]  # one buyer: the lowest scores

    seed = project_copy / "seeds" / "rfm_segments.csv"
    header, *segments = seed.read_text().splitlines()
    seed.write_text("\n".join([header, "big_spenders,1,5,1,5,0", *segments]) + "\n")  # first by rank, not accepted
    with pytest.raises(BuildFailed, match=r"model\.cdp\.customer_traits \(error\)"):
        build_marts(lake, as_of=AS_OF)

    traits = DeltaTable(lake.uri(layout.CUSTOMER_TRAITS))
    assert traits.version() == version and traits.to_pyarrow_table().to_pylist() == rows
