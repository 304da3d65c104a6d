"""Reading and appending lake tables with Spark, so jobs never spell a path or a format themselves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def checkpointer(
    spark: SparkSession, directory: Path, file_format: str = "delta"
) -> Callable[[DataFrame, str], DataFrame]:
    """A checkpoint function for iterative jobs: write the frame under ``directory/name`` and read it back, which
    cuts the lineage (Sail's ``cache()`` is a no-op and a growing plan is recomputed every round)."""

    def checkpoint(df: DataFrame, name: str) -> DataFrame:
        path = str(directory / name)
        df.write.format(file_format).mode("overwrite").save(path)
        if file_format == "delta":
            return spark.read.format(file_format).load(path)
        # An empty frame may leave no Parquet file to infer a schema from (Sail): give the schema.
        return spark.read.format(file_format).schema(df.schema).load(path)

    return checkpoint
