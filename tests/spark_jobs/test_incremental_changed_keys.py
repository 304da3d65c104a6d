"""Which keys' rows an incremental identity run must write (spark_jobs.transforms.incremental.changed_keys): rows
compared as multisets on every column but the ignored ones, nulls equal to nulls."""

from __future__ import annotations

import pytest

from spark_jobs.transforms.incremental import changed_keys

pytestmark = pytest.mark.transforms

SCHEMA = "key string, value long, note string, run_id string"


def test_only_keys_whose_rows_differ_are_changed_and_the_run_id_is_not_compared(spark):
    before = spark.createDataFrame(
        [
            ("same", 1, None, "run-1"),  # the same row with another run id: unchanged
            ("changed", 1, "x", "run-1"),
            ("gone", 1, "x", "run-1"),
            ("twice", 1, "x", "run-1"),  # two equal rows become one
            ("twice", 1, "x", "run-1"),
            ("gained", 1, "x", "run-1"),  # a key that gains a row is rewritten whole
            ("null-now", 1, "x", "run-1"),
        ],
        SCHEMA,
    )
    after = spark.createDataFrame(
        [
            ("same", 1, None, "run-2"),
            ("changed", 2, "x", "run-2"),
            ("new", 1, "x", "run-2"),
            ("twice", 1, "x", "run-2"),
            ("gained", 1, "x", "run-2"),
            ("gained", 2, "x", "run-2"),
            ("null-now", 1, None, "run-2"),
        ],
        SCHEMA,
    )

    found = {(r["key"], r["had_before"]) for r in changed_keys(before, after, ["key"], ["run_id"]).collect()}

    assert found == {
        ("changed", True),
        ("gone", True),
        ("new", False),
        ("twice", True),
        ("gained", True),
        ("null-now", True),
    }


def test_a_compound_key_and_nothing_changed(spark):
    rows = [("a", 1, "x", "run-1"), ("a", 2, None, "run-1")]
    before = spark.createDataFrame(rows, SCHEMA)
    after = spark.createDataFrame([(k, v, n, "run-2") for k, v, n, _ in rows], SCHEMA)
    assert changed_keys(before, after, ["key", "value"], ["run_id"]).count() == 0
    # The run id compared too: every key changed.
    assert {tuple(r) for r in changed_keys(before, after, ["key", "value"]).collect()} == {
        ("a", 1, True),
        ("a", 2, True),
    }
