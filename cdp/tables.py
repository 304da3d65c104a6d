"""Reading and appending lake tables with Spark, so jobs never spell a path or a format themselves."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from cdp.lake import Lake, Table


def read_table(spark: SparkSession, lake: Lake, table: Table) -> DataFrame:
    return spark.read.format("delta").load(lake.uri(table))


def append(df: DataFrame, lake: Lake, table: Table) -> None:
    # mergeSchema: a contract that gains an optional field adds a column instead of failing the run.
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(lake.uri(table))


def delete_where(spark: SparkSession, lake: Lake, table: Table, condition: str) -> None:
    if lake.exists(table):
        spark.sql(f"DELETE FROM delta.`{lake.uri(table)}` WHERE {condition}")
