"""Stable customer ids: a person keeps their ``customer_id`` from run to run, full re-runs included.

A run's components are matched to the previous run's customers by the records they share:

* each previous id goes to the component holding most of its records (a split: the largest part keeps the id);
* a component offered several previous ids keeps the oldest (a merge: the oldest id wins) and retires the others;
* a component offered none gets a new id, derived from its smallest record key (so a first run on the same data
  always mints the same ids), salted with the run id in the rare case that id was ever used before.

Every merge and split is returned as an event for ``identity_merge_history``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.transforms.components import Checkpoint

ID_PREFIX = "cus_"


def _mint(key: F.Column) -> F.Column:
    return F.concat(F.lit(ID_PREFIX), F.substring(F.sha2(key, 256), 1, 16))


def assign_stable_ids(
    current: DataFrame,
    previous: DataFrame | None,
    registry: DataFrame | None,
    run_id: str,
    checkpoint: Checkpoint | None = None,
) -> tuple[DataFrame, DataFrame]:
    """``current``: (record_key, component); ``previous``: (record_key, customer_id) of the last run;
    ``registry``: (customer_id, created_run_at) of every id ever minted. ``checkpoint``: materialise the ids before
    the events are derived from them, so the events do not compute them (and read the registry) again.

    Returns ((component, customer_id, inherited_from, is_new), events) where events are
    (event, customer_id, other_customer_ids, records)."""
    sizes = current.groupBy("component").agg(F.count("*").alias("records"), F.min("record_key").alias("min_key"))
    if previous is None:
        ids = sizes.select("component", _mint(F.col("min_key")).alias("customer_id"))
        ids = ids.withColumn("is_new", F.lit(True))
        empty = ids.sparkSession.createDataFrame(
            [], "event string, customer_id string, other_customer_ids array<string>, records long"
        )
        return ids, empty

    overlap = current.join(previous, "record_key").groupBy("component", "customer_id").agg(F.count("*").alias("shared"))
    # Split rule: each previous id is offered to the component with most of its records.
    by_old = Window.partitionBy("customer_id").orderBy(F.desc("shared"), "component")
    offers = overlap.withColumn("_r", F.row_number().over(by_old)).where(F.col("_r") == 1).drop("_r")
    if registry is not None:
        offers = offers.join(registry.select("customer_id", "created_run_at"), "customer_id", "left")
    else:
        offers = offers.withColumn("created_run_at", F.lit(None).cast("timestamp"))
    # Merge rule: a component offered several ids keeps the oldest.
    by_component = Window.partitionBy("component").orderBy(F.col("created_run_at").asc_nulls_last(), "customer_id")
    ranked = offers.withColumn("_r", F.row_number().over(by_component))
    kept = ranked.where(F.col("_r") == 1).select("component", "customer_id")
    retired = ranked.where(F.col("_r") > 1).select("component", F.col("customer_id").alias("retired_id"))

    fresh = sizes.join(kept, "component", "left_anti")
    known = registry.select("customer_id") if registry is not None else previous.select("customer_id").distinct()
    minted = fresh.select("component", _mint(F.col("min_key")).alias("customer_id"), "min_key")
    clash = minted.join(known, "customer_id", "left_semi").select("component")
    minted = minted.join(clash.withColumn("_clash", F.lit(True)), "component", "left").select(
        "component",
        F.when(F.col("_clash"), _mint(F.concat("min_key", F.lit(f":{run_id}"))))
        .otherwise(F.col("customer_id"))
        .alias("customer_id"),
    )
    ids = kept.withColumn("is_new", F.lit(False)).unionByName(minted.withColumn("is_new", F.lit(True)))
    if checkpoint is not None:
        ids = checkpoint(ids, "ids")

    merges = (
        retired.join(kept, "component")
        .groupBy("customer_id")
        .agg(F.sort_array(F.collect_list("retired_id")).alias("other_customer_ids"))
        .join(ids.join(sizes, "component").select("customer_id", "records"), "customer_id")
        .select(F.lit("merge").alias("event"), "customer_id", "other_customer_ids", "records")
    )
    # A split: a previous id whose records now sit in more than one component; the others got new ids.
    parts = overlap.join(ids.withColumnRenamed("customer_id", "now_id"), "component")
    splits = (
        parts.where(F.col("now_id") != F.col("customer_id"))
        .join(offers.select("customer_id", F.col("component").alias("_keeper")), "customer_id")
        .where(F.col("component") != F.col("_keeper"))
        .groupBy("customer_id")
        .agg(F.sort_array(F.collect_set("now_id")).alias("other_customer_ids"), F.sum("shared").alias("records"))
        .select(F.lit("split").alias("event"), "customer_id", "other_customer_ids", "records")
    )
    return ids, merges.unionByName(splits)
