"""DuckDB on the Delta lake: the bundled Delta extension and the dbt-duckdb plugin that writes marts as Delta.

DuckDB's ``INSTALL delta`` downloads the extension at run time, which this platform never does; the
``duckdb-extension-delta`` wheel ships it, so :func:`load_delta_extension` loads that file. The dbt plugin
(``profiles.yml``: ``plugins: [{module: marts.duckdb_delta, alias: lake}]``) loads it into dbt's connection and
implements ``store``: the ``delta`` materialization builds a model as a DuckDB table, then this writes it to the lake
with ``deltalake`` so that Spark, Feast and the console read the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from deltalake import write_deltalake

_BATCH_ROWS = 262_144  # rows per Arrow batch streamed from DuckDB into the Delta writer (bounded memory)


def delta_extension_path() -> Path:
    import duckdb_extension_delta

    root = Path(duckdb_extension_delta.__file__).parent / "extensions"
    found = sorted(root.glob(f"v{duckdb.__version__}/delta.duckdb_extension")) or sorted(
        root.glob("*/delta.duckdb_extension")
    )
    if not found:
        raise RuntimeError(
            f"no Delta extension for duckdb {duckdb.__version__} under {root}: reinstall with `make install`"
        )
    return found[0]


def load_delta_extension(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``delta_scan(path)`` available on ``con`` without downloading anything."""
    con.execute(f"LOAD '{delta_extension_path()}'")


def write_relation(
    con: duckdb.DuckDBPyConnection, relation: str, path: str, *, mode: str = "overwrite", predicate: str | None = None
) -> None:
    """Stream a DuckDB relation into the Delta table at ``path``.

    ``mode`` is ``overwrite`` (replace the table, schema included), ``append``, or ``replace_where``: replace only
    the rows matching ``predicate`` (a snapshot re-run for the same ``as_of`` replaces itself, history stays).
    """
    reader = con.sql(f"select * from {relation}").fetch_record_batch(_BATCH_ROWS)
    if mode == "overwrite":
        write_deltalake(path, reader, mode="overwrite", schema_mode="overwrite")
    elif mode == "append":
        write_deltalake(path, reader, mode="append", schema_mode="merge")
    elif mode == "replace_where":
        if predicate is None:
            raise ValueError(f"delta_mode replace_where needs delta_predicate for {relation}")
        if (Path(path) / "_delta_log").is_dir():
            write_deltalake(path, reader, mode="overwrite", predicate=predicate)
        else:
            write_deltalake(path, reader, mode="append")
    else:
        raise ValueError(f"unknown delta_mode {mode!r} for {relation}: use overwrite, append or replace_where")


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
