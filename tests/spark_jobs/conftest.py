from __future__ import annotations

import pytest

from cdp.tables import checkpointer


@pytest.fixture
def checkpoint(spark, tmp_path):
    # Parquet, not Delta: these transform tests also run on JVM Spark, which has no Delta jars here.
    return checkpointer(spark, tmp_path / "checkpoints", "parquet")
