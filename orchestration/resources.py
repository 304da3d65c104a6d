"""Dagster resources: the lake, its landing zone and a Spark session, built from Settings when a run needs them.

Nothing here reads the environment at import time: the Dagster code server imports this module long before any
run, and one code location serves every environment. A resource field left unset falls back to ``Settings()``
(``CDP_*`` variables); tests and one-off runs override single paths through run config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from cdp.lake import Lake
from cdp.settings import Settings
from cdp.spark import get_spark


class LakeResource(dg.ConfigurableResource):
    """Where the lake and the landing zone are, and the Spark session that reads and writes them."""

    lake_root: str | None = None  # default: Settings().lake_root (CDP_LAKE_ROOT)
    landing_root: str | None = None  # default: Settings().landing_root (CDP_LANDING_ROOT)

    def settings(self) -> Settings:
        overrides: dict[str, Any] = {
            key: Path(value)
            for key, value in (("lake_root", self.lake_root), ("landing_root", self.landing_root))
            if value is not None
        }
        return Settings(**overrides)

    def lake(self) -> Lake:
        return Lake(self.settings().lake_root)

    def landing(self) -> Path:
        return self.settings().landing_root

    def spark(self) -> SparkSession:
        # One session per process (cdp.spark keeps it); Dagster's multiprocess executor gives each step its own.
        return get_spark(self.settings())


defs = dg.Definitions(resources={"lake": LakeResource()})
