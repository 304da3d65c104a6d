"""The pure parts of an incremental identity run: the scope closure, the degree guard on touched nodes, merging
old and new incidence rows, candidate pairs touching the scope, and ``assigned_at``."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from spark_jobs.jobs.resolve import with_assigned_at
from spark_jobs.rules import DegreeGuard
from spark_jobs.transforms.incremental import (
    ScopeDidNotConverge,
    bridging_nodes,
    close_groups,
    combine_incidence,
    earlier_conflicts,
    near_links,
    previous_incidence,
    regard_touched,
    scope_closure,
)
from spark_jobs.transforms.matching import candidate_pairs, candidate_pairs_touching

pytestmark = pytest.mark.transforms

INCIDENCE = (
    "record_key string, source string, source_record_id string, observed_at timestamp, id_type string, "
    "raw_value string, region_hint string, value string, node long, drop_reason string"
)
T = dt.datetime(2025, 1, 1)


def _records(df) -> set[str]:
    return {r.record_key for r in df.collect()}


@pytest.mark.parametrize("local_max_rows", [0, 1000], ids=["spark", "driver"])
def test_scope_closes_over_shared_identifiers_and_earlier_customers(spark, checkpoint, local_max_rows):
    edges = spark.createDataFrame(
        [("n1", 1), ("a", 1), ("a", 2), ("b", 3), ("c", 3), ("x", 9), ("y", 9)], "record_key string, node long"
    )
    # b was in a's customer (a probabilistic link, say); c shares node 3 with b; x/y are another person.
    membership = spark.createDataFrame(
        [("a", "cus_a"), ("b", "cus_a"), ("c", "cus_c"), ("d", "cus_c"), ("x", "cus_x"), ("y", "cus_x")],
        "record_key string, customer_id string",
    )
    seeds = spark.createDataFrame([("n1",)], "record_key string")
    scope, rounds = scope_closure(seeds, edges, membership, checkpoint, local_max_rows=local_max_rows)
    # Round 1: n1 -> customer a (node 1, a and b); round 2: -> customer c (node 3, c and d); round 3 adds nothing.
    assert _records(scope) == {"n1", "a", "b", "c", "d"} and rounds == 3
    with pytest.raises(ScopeDidNotConverge):
        scope_closure(seeds, edges, membership, checkpoint, max_rounds=2, local_max_rows=local_max_rows)


def test_the_scope_is_closed_on_the_driver_with_the_spark_rounds_answer(spark, checkpoint):
    # Groups (earlier customers and lone records) joined by shared nodes and by near links, in a chain, a cycle
    # and a branch that nothing reaches; both paths must give the same records and count the same rounds.
    pairs = [("n1", 1), ("a1", 1), ("a2", 2), ("b1", 2), ("b2", 3), ("n2", 3), ("n2", 4), ("c1", 4), ("c1", 1)]
    edges = spark.createDataFrame([*pairs, ("z1", 8), ("z2", 8)], "record_key string, node long")
    membership = spark.createDataFrame(
        [("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B"), ("c1", "C"), ("c2", "C"), ("d1", "D"), ("z1", "Z")],
        "record_key string, customer_id string",
    )
    links = spark.createDataFrame([("c2", "d1"), ("d1", "c2")], "record_key string, other_key string")
    seeds = spark.createDataFrame([("n1",)], "record_key string")
    # Each answer read before the next closure writes its checkpoints over the same names.
    spark_scope, spark_rounds = scope_closure(seeds, edges, membership, checkpoint, links=links)
    spark_records = _records(spark_scope)
    local_scope, local_rounds = scope_closure(seeds, edges, membership, checkpoint, links=links, local_max_rows=100)
    expected = {"n1", "a1", "a2", "b1", "b2", "n2", "c1", "c2", "d1"}
    assert spark_records == _records(local_scope) == expected
    assert local_rounds == spark_rounds
    # Above the limit the rounds run on Spark: the same answer.
    above = scope_closure(seeds, edges, membership, checkpoint, links=links, local_max_rows=3)
    assert _records(above[0]) == expected and above[1] == spark_rounds


def test_the_scope_needs_only_the_identifiers_that_can_bridge_two_earlier_customers(spark, checkpoint):
    # Earlier customers: a (a1, a2 stitched by node 1), b (b1, b2 by node 4; node 5 would have merged a1 and b1 but a
    # limit refused it), d (d1, node 7). New record n1 holds node 2, which a2 holds too; the guard now refuses node 8.
    stitchable = spark.createDataFrame(
        [("a1", 1), ("a2", 1), ("a2", 2), ("n1", 2), ("b1", 4), ("b2", 4), ("a1", 5), ("b1", 5), ("d1", 7)],
        "record_key string, node long",
    )
    membership = spark.createDataFrame(
        [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("d1", "d")], "record_key string, customer_id string"
    )
    identifiers = spark.createDataFrame(
        [("a1", 1, None), ("a1", 5, "merge refused: 2 customer_ref values"), ("d1", 9, "invalid email")],
        "record_key string, node long, drop_reason string",
    )
    touched_rows = spark.createDataFrame(
        [("n1", 2, None), ("n1", 3, "invalid phone")], "record_key string, node long, drop_reason string"
    )
    changed = spark.createDataFrame([(8,)], "node long")
    bridging = bridging_nodes(touched_rows, changed, earlier_conflicts(identifiers))
    assert {r.node for r in bridging.collect()} == {2, 5, 8}
    edges = stitchable.join(bridging, "node", "left_semi")
    seeds = spark.createDataFrame([("n1",)], "record_key string")
    # n1 -> a2 (node 2) -> a1 (customer a) -> b1 (node 5, refused last time, decided again) -> b2 (customer b).
    expected = {"n1", "a1", "a2", "b1", "b2"}
    assert _records(scope_closure(seeds, edges, membership, checkpoint)[0]) == expected
    assert _records(scope_closure(seeds, stitchable, membership, checkpoint)[0]) == expected


def test_near_links_are_the_earlier_pairs_that_may_link_now_and_close_the_scope_too(spark, checkpoint):
    # weight 6.63 is probability 0.99 (the threshold): refused, just under, far under, linked, one profile already.
    pairs = spark.createDataFrame(
        [
            ("a", "r", 9.0, "merge refused: 2 customer_ref values", False, False),
            ("b", "j", 5.9, None, False, False),
            ("c", "f", 3.0, None, False, False),
            ("d", "l", 12.0, None, True, False),
            ("e", "s", 12.0, None, False, True),
        ],
        "left_key string, right_key string, match_weight double, refused_reason string, linked boolean, "
        "same_profile_already boolean",
    )
    links = near_links(pairs, 0.99, margin_bits=1.0)
    assert {(r.record_key, r.other_key) for r in links.collect()} == {("a", "r"), ("r", "a"), ("b", "j"), ("j", "b")}
    edges = spark.createDataFrame([("n1", 1), ("a", 1)], "record_key string, node long")
    membership = spark.createDataFrame(
        [("a", "cus_a"), ("r", "cus_r"), ("r2", "cus_r"), ("b", "cus_b")], "record_key string, customer_id string"
    )
    seeds = spark.createDataFrame([("n1",)], "record_key string")
    # n1 -> a (node 1) -> r (a refused link, re-decided now) -> r2 (r's customer); b and j stay out.
    scope, _ = scope_closure(seeds, edges, membership, checkpoint, links=links)
    assert _records(scope) == {"n1", "a", "r", "r2"}
    assert _records(scope_closure(seeds, edges, membership, checkpoint)[0]) == {"n1", "a"}


def test_a_new_record_pushes_an_identifier_over_the_degree_guard_and_only_touched_nodes_are_re_decided(spark):
    rows = [(f"r{i}", "s", f"r{i}", T, "phone", "p", None, "+84913222333", 7, None) for i in range(4)]
    rows += [("r0", "s", "r0", T, "email", "e", None, "e@x.com", 8, None)]
    rows += [("q1", "s", "q1", T, "email", "q", None, "q@x.com", 5, None)]  # untouched, shared before: stays so
    incidence = spark.createDataFrame(rows, INCIDENCE)
    was_shared = spark.createDataFrame([(5, "shared identifier: 900 records")], "node long, _was_shared string")
    touched = spark.createDataFrame([("r3",)], "record_key string")
    shared, changed = regard_touched(
        incidence, was_shared, touched, DegreeGuard(max_records=3, max_linked_identifiers=60)
    )
    verdicts = {r.node: r._shared for r in shared.collect()}
    assert set(verdicts) == {7, 5} and verdicts[7].startswith("shared identifier: 4 records")
    assert {r.node for r in changed.collect()} == {7}
    # The touched records' rows given apart (as the job does, from the rows it combined): the same verdicts.
    touched_rows = incidence.where("record_key = 'r3'")
    shared, changed = regard_touched(
        incidence, was_shared, touched, DegreeGuard(max_records=3, max_linked_identifiers=60), touched_rows=touched_rows
    )
    assert {r.node: r._shared for r in shared.collect()} == verdicts
    assert {r.node for r in changed.collect()} == {7}


def test_previous_rows_drop_graph_reasons_and_merge_with_new_rows_of_the_same_record(spark):
    old = spark.createDataFrame(
        [
            ("k", "s", "k", T, "phone", "0913", "GB", "+44913", 1, "shared identifier: 600 records", "not used", "r1"),
            ("k", "s", "k", T, "email", "bad", None, None, None, "invalid email", "not used", "r1"),
            ("k", "s", "k", T, "email", "a@x", None, "a@x", 2, "merge refused: 6 email values", "not used", "r1"),
        ],
        INCIDENCE + ", status string, run_id string",
    )
    previous = previous_incidence(old)
    reasons = {r.raw_value: (r.drop_reason, r._was_shared) for r in previous.collect()}
    assert reasons == {
        "0913": (None, "shared identifier: 600 records"),
        "bad": ("invalid email", None),
        "a@x": (None, None),
    }
    later = dt.datetime(2025, 2, 1)
    new = spark.createDataFrame(
        [
            ("k", "s", "k", later, "phone", "0913", "AU", "+61913", 3, None),
            ("k", "s", "k", later, "email", "b@x", None, "b@x", 4, None),
        ],
        INCIDENCE,
    )
    combined = {(r.id_type, r.raw_value): r for r in combine_incidence(previous, new).collect()}
    assert len(combined) == 4
    phone = combined[("phone", "0913")]
    assert (phone.region_hint, phone.value, phone.node, phone.observed_at) == ("AU", "+61913", 3, T)  # min hint
    assert combined[("email", "b@x")].observed_at == later


def test_candidate_pairs_touching_the_scope_are_the_full_pairs_with_a_scope_side(spark):
    profiles = spark.createDataFrame(
        [
            ("p1", 1, "an", "le"),
            ("p2", 2, "an", "le"),
            ("p3", 3, "an", "tran"),
            ("p4", 4, "bo", "le"),
            ("p5", 5, "an", "le"),
        ],
        "profile_key string, component long, first_name string, last_name string",
    )
    rules = (("first_name", "last_name"), ("last_name",))
    focus = spark.createDataFrame([("p2",)], "profile_key string")
    full = {(r.left_key, r.right_key, r.rule) for r in candidate_pairs(profiles, rules).collect()}
    touching = {(r.left_key, r.right_key, r.rule) for r in candidate_pairs_touching(profiles, focus, rules).collect()}
    assert touching == {p for p in full if "p2" in p[:2]} == {("p1", "p2", 0), ("p2", "p5", 0), ("p2", "p4", 1)}


def test_assigned_at_is_kept_while_the_customer_id_is_unchanged(spark):
    before = dt.datetime(2025, 1, 1)
    previous = spark.createDataFrame(
        [("s", "1", "cus_a", before), ("s", "2", "cus_b", before), ("s", "3", "cus_c", None)],
        "source string, source_record_id string, customer_id string, assigned_at timestamp",
    )
    current = spark.createDataFrame(
        [("s", "1", "cus_a"), ("s", "2", "cus_a"), ("s", "3", "cus_c"), ("s", "4", "cus_d")],
        "source string, source_record_id string, customer_id string",
    )
    now = dt.datetime(2025, 3, 1)
    out = with_assigned_at(current, previous, F.lit(now).cast("timestamp"))
    assert {r.source_record_id: r.assigned_at for r in out.collect()} == {"1": before, "2": now, "3": now, "4": now}
    no_column = previous.drop("assigned_at")
    out = with_assigned_at(current, no_column, F.lit(now).cast("timestamp"))
    assert {r.assigned_at for r in out.collect()} == {now}


def test_combined_rows_take_the_smallest_hint_a_missing_one_last_and_the_earliest_source(spark):
    later = dt.datetime(2025, 2, 1)
    previous = spark.createDataFrame(
        [("k", "s2", "k", later, "phone", "0913", None, "0913", 9, "invalid phone", None)],
        INCIDENCE + ", _was_shared string",
    )
    new = spark.createDataFrame(
        [
            ("k", "s1", "k", later, "phone", "0913", "VN", "+84913", 3, None),
            ("k", "s3", "k", T, "phone", "0913", "VN", "+84913", 3, None),
            ("k", "s1", "k", T, "email", "a@x", None, "a@x", 4, None),
            ("k", "s1", "k", T, "email", "a@x", None, "a@x", 4, None),
        ],
        INCIDENCE,
    )
    rows = sorted(combine_incidence(previous, new).collect(), key=lambda r: r.id_type)
    assert [(r.id_type, r.source, r.observed_at, r.region_hint, r.value, r.node, r.drop_reason) for r in rows] == [
        ("email", "s1", T, None, "a@x", 4, None),
        ("phone", "s1", T, "VN", "+84913", 3, None),
    ]


def test_driver_closure_counts_rounds_like_spark_and_joins_nothing_through_a_null_node():
    edges = [("s", 1), ("g1", 1), ("g1", 2), ("g2", 2), ("x", None), ("y", None)]
    # Round 1 adds g1 (node 1), round 2 g2 (node 2) and l (a link of g1), round 3 adds nothing.
    assert close_groups(["s", "x"], edges, [("g1", "l")], max_rounds=5) == ({"s", "x", "g1", "g2", "l"}, 3)
    with pytest.raises(ScopeDidNotConverge):
        close_groups(["s"], edges, [], max_rounds=2)
