"""Score ``gold.identity_map`` against a ground-truth file mapping source records to true entities.

The truth file is a CSV (optionally gzipped) with columns ``source, source_record_id`` and an entity column
(``person_id`` in the generator's ``record_truth.csv.gz``, or ``entity_id``). Two scopes are reported: all
records, and the records an identifier-based resolver could link at all (see
:func:`spark_jobs.transforms.evaluation.linkable_truth`).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from cdp import lake as tables
from cdp.lake import Lake
from cdp.tables import checkpointer, read_table
from spark_jobs.transforms.evaluation import Accuracy, evaluate, linkable_truth

ENTITY_COLUMNS = ("entity_id", "person_id")


def evaluate_identity_map(
    spark: SparkSession, lake: Lake, truth_file: Path, sources: list[str] | None = None
) -> dict[str, Accuracy]:
    if not truth_file.exists():
        raise FileNotFoundError(f"truth file {truth_file} does not exist")
    if not lake.exists(tables.IDENTITY_MAP):
        raise FileNotFoundError(f"no identity map in {lake.root}: run `cdp resolve` first")
    truth = spark.read.option("header", True).csv(str(truth_file))
    entity = next((c for c in ENTITY_COLUMNS if c in truth.columns), None)
    missing = {"source", "source_record_id"} - set(truth.columns)
    if entity is None or missing:
        raise ValueError(
            f"{truth_file}: the header must name source, source_record_id and one of {', '.join(ENTITY_COLUMNS)}; "
            f"it has {', '.join(truth.columns)}"
        )
    truth = truth.select("source", "source_record_id", F.col(entity).alias("entity_id"))
    if sources:
        truth = truth.where(F.col("source").isin(sources))
    predicted = read_table(spark, lake, tables.IDENTITY_MAP).select("source", "source_record_id", "customer_id")
    results = {"all records": evaluate(predicted, truth)}
    staging = lake.staging_dir(f"evaluate-{uuid.uuid4().hex[:8]}")
    try:
        identifiers = read_table(spark, lake, tables.IDENTITY_IDENTIFIERS)
        linkable = linkable_truth(truth, identifiers, checkpointer(spark, staging))
        results["identifier-linkable records"] = evaluate(predicted, linkable)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results
