"""The dbt-duckdb plugin of the marts (``profiles.yml``: ``plugins: [{module: marts.dbt_lake_plugin, alias: lake}]``).

Kept apart from :mod:`marts.duckdb_delta` so that readers of the lake (the API, Feast, the CLI) never import dbt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig

from marts.duckdb_delta import load_delta_extension, write_relation
from marts.run_vars import env_as_of, env_clv_refit, set_run_variables


class Plugin(BasePlugin):
    """dbt-duckdb plugin: Delta extension on every connection, the run's variables (as_of, clv_refit) on every
    cursor, and ``store`` for the ``delta`` materialization."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._conn: duckdb.DuckDBPyConnection | None = None
        # as_of of a run without CDP_AS_OF (dbt by hand): the plugin's start, one value for the whole run
        self._started_at = datetime.now(UTC)

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        load_delta_extension(conn)
        self._conn = conn  # store() gets no connection from dbt; models are committed on this database

    def configure_cursor(self, cursor: duckdb.DuckDBPyConnection) -> None:
        # read on every cursor, not cached: in-process builds (tests, cdp) re-use the plugin with another CDP_AS_OF
        set_run_variables(cursor, as_of=env_as_of(self._started_at), clv_refit=env_clv_refit())

    def store(self, target_config: TargetConfig) -> None:
        if self._conn is None:
            raise RuntimeError("the lake plugin has no DuckDB connection yet")
        assert target_config.location is not None
        config = target_config.config
        # delta_files_of: a model of the same layer whose Delta table holds exactly this relation's rows
        files_of = config.get("delta_files_of")
        with self._conn.cursor() as cursor:
            # the run's variables here too: a view whose rows depend on as_of would otherwise be written empty
            self.configure_cursor(cursor)
            write_relation(
                cursor,
                str(target_config.relation),
                target_config.location.path,
                mode=config.get("delta_mode", "overwrite"),
                replace_on=config.get("delta_replace_on"),
                merge_on=config.get("delta_merge_on"),
                inserts_only=bool(config.get("delta_inserts_only", False)),
                whole=config.get("delta_whole_relation"),
                delete_flag=config.get("delta_delete_flag"),
                files_of=str(Path(target_config.location.path).parent / files_of) if files_of else None,
                checks=config.get("delta_checks"),
            )
