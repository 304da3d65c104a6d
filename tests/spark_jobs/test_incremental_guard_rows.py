"""The incremental run's degree guard from the rows it already scanned: the holders of the touched nodes taken from
a superset the caller holds (``held_rows``), and new records' rows that need no combining."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from spark_jobs.rules import DegreeGuard
from spark_jobs.transforms.incremental import combine_incidence, regard_touched

pytestmark = pytest.mark.transforms

INCIDENCE = (
    "record_key string, source string, source_record_id string, observed_at timestamp, id_type string, "
    "raw_value string, region_hint string, value string, node long, drop_reason string"
)
T = dt.datetime(2025, 1, 1)
GUARD = DegreeGuard(max_records=3, max_linked_identifiers=60)


def _verdicts(result) -> tuple[dict[int, str], set[int]]:
    shared, changed = result
    return {r.node: r._shared for r in shared.collect()}, {r.node for r in changed.collect()}


def test_the_guard_finds_the_touched_nodes_holders_among_the_rows_the_caller_scanned(spark):
    # Node 7 (a phone) reaches 4 records with r3's new row; node 5 was shared and is untouched; node 9 is an
    # earlier conflict's node that the caller's scan also holds.
    rows = [(f"r{i}", "s", f"r{i}", T, "phone", "p", None, "+84913222333", 7, None) for i in range(4)]
    rows += [("r0", "s", "r0", T, "email", "e", None, "e@x.com", 8, None)]
    rows += [("q1", "s", "q1", T, "email", "q", None, "q@x.com", 5, None)]
    rows += [
        ("c1", "s", "c1", T, "email", "c", None, "c@x.com", 9, None),
        ("c2", "s", "c2", T, "email", "c", None, "c@x.com", 9, None),
    ]
    incidence = spark.createDataFrame(rows, INCIDENCE)
    was_shared = spark.createDataFrame([(5, "shared identifier: 900 records")], "node long, _was_shared string")
    touched = spark.createDataFrame([("r3",)], "record_key string")
    touched_rows = incidence.where("record_key = 'r3'")
    expected = _verdicts(regard_touched(incidence, was_shared, touched, GUARD, touched_rows=touched_rows))
    assert expected[0][7].startswith("shared identifier: 4 records") and expected[1] == {7}

    usable = incidence.where(F.col("drop_reason").isNull()).select("record_key", "node")
    scanned = usable.where(F.col("node").isin(7, 9))  # the touched nodes' and the conflicts' rows
    found = regard_touched(incidence, was_shared, touched, GUARD, touched_rows=touched_rows, held_rows=scanned)
    assert _verdicts(found) == expected
    # The holders come from held_rows: with one of node 7's holders missing it counts 3 records, within the limit.
    partial = regard_touched(
        incidence, was_shared, touched, GUARD, touched_rows=touched_rows, held_rows=scanned.where("record_key != 'r0'")
    )
    assert 7 not in _verdicts(partial)[0]
    # The changed nodes are touched nodes: the job takes their holders from the same scanned rows.
    assert expected[1] <= {r.node for r in touched_rows.collect()}


def test_new_records_rows_alone_are_returned_as_they_are(spark):
    # One row per (record, type, raw value), as extract_identifiers gives them: nothing to combine, so the job
    # uses the new rows themselves when no touched record had earlier rows.
    new = spark.createDataFrame(
        [
            ("n1", "s", "n1", T, "phone", "0913", "VN", "+84913", 1, None),
            ("n1", "s", "n1", T, "email", "a@x", None, "a@x", 2, None),
            ("n2", "t", "n2", T, "email", "bad", None, None, None, "invalid email"),
        ],
        INCIDENCE,
    )
    previous = new.where(F.lit(False)).withColumn("_was_shared", F.lit(None).cast("string"))
    assert sorted(combine_incidence(previous, new).collect()) == sorted(new.collect())
