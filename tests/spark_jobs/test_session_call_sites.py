"""The Spark session factory turns off pyspark's per-Column call-site capture (a stack walk for every Column built,
kept only to name the line in a query error): the identity job builds thousands of columns a run."""

from __future__ import annotations

from cdp.spark import DATAFRAME_DEBUGGING


def test_the_session_does_not_capture_a_call_site_per_column(spark):
    assert spark.conf.get(DATAFRAME_DEBUGGING, "true") == "false"
