"""Pairwise and B-cubed scores on hand-computed examples, and the identifier-linkable scope."""

from __future__ import annotations

import pytest

from spark_jobs.transforms.evaluation import evaluate, linkable_truth

pytestmark = pytest.mark.transforms


def _frames(spark, predicted, truth):
    p = spark.createDataFrame(predicted, "source string, source_record_id string, customer_id string")
    t = spark.createDataFrame(truth, "source string, source_record_id string, entity_id string")
    return p, t


def test_pairwise_and_bcubed_scores(spark):
    # truth: {1,2,3} {4,5}; predicted: {1,2} {3,4,5}; record 6 (truth alone) is not resolved.
    truth = [("s", r, e) for r, e in (("1", "A"), ("2", "A"), ("3", "A"), ("4", "B"), ("5", "B"), ("6", "C"))]
    predicted = [("s", r, c) for r, c in (("1", "x"), ("2", "x"), ("3", "y"), ("4", "y"), ("5", "y"))]
    acc = evaluate(*_frames(spark, predicted, truth))
    # predicted pairs 1 + 3 = 4, true pairs 3 + 1 = 4, correct: (1,2) and (4,5) = 2
    assert (acc.predicted_pairs, acc.true_pairs, acc.correct_pairs) == (4, 4, 2)
    assert acc.pairwise_precision == pytest.approx(0.5) and acc.pairwise_recall == pytest.approx(0.5)
    # B-cubed precision: (2*(2/2) + 1/3 + 2*(2/3) + 1) / 6; recall: (2*(2/3) + 1/3 + 2*(2/2) + 1) / 6
    assert acc.bcubed_precision == pytest.approx((2 + 1 / 3 + 4 / 3 + 1) / 6)
    assert acc.bcubed_recall == pytest.approx((4 / 3 + 1 / 3 + 2 + 1) / 6)
    assert (acc.records, acc.true_entities, acc.predicted_customers) == (6, 3, 3)


def test_perfect_map_scores_one(spark):
    truth = [("s", str(i), f"E{i // 3}") for i in range(9)]
    predicted = [("s", str(i), f"c{i // 3}") for i in range(9)]
    acc = evaluate(*_frames(spark, predicted, truth))
    assert acc.pairwise_f1 == 1.0 and acc.bcubed_f1 == 1.0


def test_linkable_truth_keeps_each_entitys_largest_identifier_connected_part(spark, checkpoint):
    truth = spark.createDataFrame(
        [("s", "1", "A"), ("s", "2", "A"), ("s", "3", "A"), ("s", "4", "B")],
        "source string, source_record_id string, entity_id string",
    )
    identifiers = spark.createDataFrame(
        [
            ("s:1", "email", "a@x", None),
            ("s:2", "email", "a@x", None),
            ("s:3", "anonymous_id", "cookie", None),  # a cookie that never logged in: nothing links it to A
            ("s:4", "email", "test@x", "blocked value"),
        ],
        "record_key string, id_type string, value string, drop_reason string",
    )
    kept = {r.source_record_id for r in linkable_truth(truth, identifiers, checkpoint).collect()}
    assert kept == {"1", "2", "4"}
