"""The scope closure hands back the scope's previous membership rows whole, so that an incremental run reads the
identity map once for the closure and its stable ids, not once more for the scope's map rows."""

from __future__ import annotations

import pytest

from spark_jobs.transforms.incremental import scope_closure

pytestmark = pytest.mark.transforms


@pytest.mark.parametrize("local_max_rows", [0, 100], ids=["spark", "driver"])
def test_the_scope_carries_its_previous_map_rows_and_lone_records_without_them(spark, checkpoint, local_max_rows):
    # n1 (new) shares node 1 with a1, whose customer A also holds a2; z1 (customer Z) is out of reach.
    edges = spark.createDataFrame([("n1", 1), ("a1", 1), ("z1", 9)], "record_key string, node long")
    membership = spark.createDataFrame(
        [("a1", "A", "email"), ("a2", "A", "phone"), ("z1", "Z", "email")],
        "record_key string, customer_id string, matched_by string",
    )
    seeds = spark.createDataFrame([("n1",)], "record_key string")
    scope, _rounds = scope_closure(seeds, edges, membership, checkpoint, local_max_rows=local_max_rows)
    rows = {(r.record_key, r.customer_id, r.matched_by) for r in scope.collect()}
    assert rows == {("n1", None, None), ("a1", "A", "email"), ("a2", "A", "phone")}
