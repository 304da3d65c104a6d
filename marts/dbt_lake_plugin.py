"""The dbt-duckdb plugin of the marts (``profiles.yml``: ``plugins: [{module: marts.dbt_lake_plugin, alias: lake}]``).

Kept apart from :mod:`marts.duckdb_delta` so that readers of the lake (the API, Feast, the CLI) never import dbt.
"""

from __future__ import annotations

from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig

from marts.duckdb_delta import load_delta_extension, write_relation


class Plugin(BasePlugin):
    """dbt-duckdb plugin: Delta extension on every connection, and ``store`` for the ``delta`` materialization."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._conn: duckdb.DuckDBPyConnection | None = None

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        load_delta_extension(conn)
        self._conn = conn  # store() gets no connection from dbt; models are committed on this database

    def store(self, target_config: TargetConfig) -> None:
        if self._conn is None:
            raise RuntimeError("the lake plugin has no DuckDB connection yet")
        assert target_config.location is not None
        config = target_config.config
        with self._conn.cursor() as cursor:
            write_relation(
                cursor,
                str(target_config.relation),
                target_config.location.path,
                mode=config.get("delta_mode", "overwrite"),
                predicate=config.get("delta_predicate"),
            )
