"""Accuracy of an identity map against ground truth: pairwise precision/recall/F1 and B-cubed.

Computed from the contingency table (predicted customer x true entity) so nothing grows with the number of pairs.
Records in the truth that the map does not resolve count as singletons; records the truth does not know are left
out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Accuracy:
    records: int
    true_entities: int
    predicted_customers: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: F.Column) -> F.Column:
    return n * (n - 1) / 2


def evaluate(predicted: DataFrame, truth: DataFrame) -> Accuracy:
    """``predicted``: (source, source_record_id, customer_id); ``truth``: (source, source_record_id, entity_id)."""
    joined = truth.join(predicted, ["source", "source_record_id"], "left").select(
        F.coalesce("customer_id", F.concat(F.lit("unresolved:"), "source", F.lit(":"), "source_record_id")).alias(
            "predicted"
        ),
        F.col("entity_id").alias("truth"),
    )
    cells = joined.groupBy("predicted", "truth").agg(F.count("*").cast("double").alias("n"))
    pred_sizes = cells.groupBy("predicted").agg(F.sum("n").alias("n_pred"))
    true_sizes = cells.groupBy("truth").agg(F.sum("n").alias("n_true"))
    enriched = cells.join(pred_sizes, "predicted").join(true_sizes, "truth")
    row = enriched.agg(
        F.sum("n").alias("records"),
        F.sum(_pairs(F.col("n"))).alias("correct"),
        F.sum(F.col("n") * F.col("n") / F.col("n_pred")).alias("b3p"),
        F.sum(F.col("n") * F.col("n") / F.col("n_true")).alias("b3r"),
    ).collect()[0]
    predicted_pairs = pred_sizes.agg(F.sum(_pairs(F.col("n_pred")))).collect()[0][0] or 0.0
    true_pairs = true_sizes.agg(F.sum(_pairs(F.col("n_true")))).collect()[0][0] or 0.0
    records = float(row["records"] or 0.0)
    correct = float(row["correct"] or 0.0)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    b3p = float(row["b3p"] or 0.0) / records if records else 1.0
    b3r = float(row["b3r"] or 0.0) / records if records else 1.0
    return Accuracy(
        records=int(records),
        true_entities=true_sizes.count(),
        predicted_customers=pred_sizes.count(),
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=b3p,
        bcubed_recall=b3r,
        bcubed_f1=_f1(b3p, b3r),
        true_pairs=int(true_pairs),
        predicted_pairs=int(predicted_pairs),
        correct_pairs=int(correct),
    )
