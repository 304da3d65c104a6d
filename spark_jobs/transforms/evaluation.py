"""Accuracy of an identity map against ground truth: pairwise precision/recall/F1 and B-cubed.

Computed from the contingency table (predicted customer x true entity) so nothing grows with the number of pairs.
Records in the truth that the map does not resolve count as singletons; records the truth does not know are left
out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.transforms.components import Checkpoint, connected_components


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


def linkable_truth(truth: DataFrame, identifiers: DataFrame, checkpoint: Checkpoint) -> DataFrame:
    """The part of the truth any identifier-based resolver could recover: for each true entity, its records that
    are connected to its largest group by valid identifier values the entity's own records share.

    An anonymous browser cookie that never logged in, or a push token of an app that was never signed in to, belongs
    to a person in the generator's truth, but no identifier says so; scoring against all records mixes that
    ceiling with the resolver's own errors. ``identifiers``: (record_key, id_type, value, drop_reason) as in
    ``silver.identity_identifiers``; identifiers dropped as blocked or shared count as not linking.
    """
    keyed = truth.withColumn("record_key", F.concat("source", F.lit(":"), "source_record_id"))
    valid = identifiers.where(
        F.col("value").isNotNull()
        & ~F.coalesce(F.col("drop_reason").startswith("blocked"), F.lit(False))
        & ~F.coalesce(F.col("drop_reason").startswith("shared"), F.lit(False))
    )
    incidence = keyed.join(valid.select("record_key", "id_type", "value"), "record_key").select(
        F.xxhash64(F.lit("record"), "record_key").alias("src"),
        F.xxhash64(F.lit("node"), "entity_id", "id_type", "value").alias("dst"),
    )
    vertices = keyed.select(F.xxhash64(F.lit("record"), "record_key").alias("src")).withColumn("dst", F.col("src"))
    components, _ = connected_components(incidence.unionByName(vertices), checkpoint, name="linkable")
    labelled = keyed.join(
        components.withColumnRenamed("vertex", "_v"), F.xxhash64(F.lit("record"), keyed.record_key) == F.col("_v")
    )
    sizes = labelled.groupBy("entity_id", "component").agg(F.count("*").alias("_n"))
    largest = sizes.withColumn(
        "_r", F.row_number().over(Window.partitionBy("entity_id").orderBy(F.desc("_n"), "component"))
    ).where(F.col("_r") == 1)
    return labelled.join(largest.select("entity_id", "component"), ["entity_id", "component"]).select(
        "source", "source_record_id", "entity_id"
    )
