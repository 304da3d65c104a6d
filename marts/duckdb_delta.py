"""DuckDB on the Delta lake: the bundled Delta extension, and streaming a DuckDB relation into a Delta table.

DuckDB's ``INSTALL delta`` downloads the extension at run time, which this platform never does; the
``duckdb-extension-delta`` wheel ships it, so :func:`load_delta_extension` loads that file. The dbt plugin
(``marts/dbt_lake_plugin.py``, named in ``profiles.yml``) loads it into dbt's connection, and its ``store`` calls
:func:`write_relation` after the ``delta`` materialization built a model as a DuckDB table, so that Spark, Feast and
the console read the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction, RemoveAction

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


_database: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid that opened it, its first connection)
_database_lock = threading.Lock()


def lake_connection() -> duckdb.DuckDBPyConnection:
    """A new connection (its own temp tables, temp views and settings, in UTC) to this process's in-memory DuckDB
    database, where the Delta extension is loaded once. Loading it checks the 82 MB file's signature, about 0.23 s of
    CPU (0.3 s wall) per new database; a cursor shares the loaded extension and costs about 0.01 s. One connection per
    task and per thread (a connection is not shared between threads); make views ``temp`` so that another task's do
    not replace them. A forked child opens its own: the parent's database would run its queries without the worker
    threads, which a fork does not copy."""
    global _database
    with _database_lock:
        if _database is None or _database[0] != os.getpid():
            database = duckdb.connect()
            load_delta_extension(database)  # kept only once loaded: a failed load is retried by the next caller
            _database = (os.getpid(), database)
        con = _database[1].cursor()
    con.execute("set TimeZone = 'UTC'")
    return con


def write_relation(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    path: str,
    *,
    mode: str = "overwrite",
    replace_on: str | None = None,
    merge_on: str | None = None,
    inserts_only: bool = False,
    whole: str | None = None,
    delete_flag: str | None = None,
    files_of: str | None = None,
    checks: list[str] | None = None,
) -> None:
    """Stream a DuckDB relation into the Delta table at ``path``.

    ``mode`` is ``overwrite`` (replace the table, schema included), ``append``, ``replace_where``: replace only
    the rows whose ``replace_on`` column holds a value the relation holds (a snapshot re-run for the same ``as_of``
    replaces itself, history stays), or ``merge``: the relation holds the new and changed rows of ``whole`` (the
    DuckDB table before them), which replace the rows with the same ``merge_on`` value (appended when
    ``inserts_only``: none of their keys is in the table); a row whose ``delete_flag`` column is true removes the
    row with its key instead (the flag is not stored). Without a Delta table at ``path`` yet, merge writes ``whole``
    with the relation's rows in place. The replace_where values come from the data, not from the model's
    config: a config is rendered when dbt parses, and dbt does not re-parse for a new as_of (marts/run_vars.py).
    ``files_of`` (replace_where): the Delta table at that path holds exactly the relation's rows (the relation copies
    the model that wrote it in this build); its Parquet files are re-used when that can be checked
    (:func:`_replace_with_files_of`), so no row is encoded twice.
    ``checks`` (overwrite): SQL conditions every row must meet (SQL CHECK semantics: null passes), tested on each
    batch as it streams; a row that fails one raises :class:`CheckFailed` before the Delta commit, so the table keeps
    its last version.
    """
    if mode not in ("overwrite", "append", "replace_where", "merge"):
        raise ValueError(f"unknown delta_mode {mode!r} for {relation}: use overwrite, append, replace_where or merge")
    if checks and mode != "overwrite":
        raise ValueError(f"checks are tested on overwrite only, not on delta_mode {mode} ({relation})")
    if mode == "merge":
        _merge_relation(con, relation, path, merge_on, inserts_only, whole, delete_flag)
        return
    predicate = None
    if mode == "replace_where":
        if replace_on is None:
            raise ValueError(f"delta_mode replace_where needs delta_replace_on (a column) for {relation}")
        if files_of is not None and _replace_with_files_of(con, relation, path, files_of, replace_on):
            return
        predicate = _values_predicate(con, relation, replace_on)  # read before the relation is streamed
    reader = con.sql(f"select * from {relation}").to_arrow_reader(_BATCH_ROWS)
    if mode == "overwrite" and checks:
        failures: list[CheckFailed] = []
        try:
            write_deltalake(path, _checked(con, reader, checks, relation, failures), mode="overwrite",
                            schema_mode="overwrite")  # fmt: skip
        except Exception:
            if failures:  # raised in the batches, wrapped by the writer: ours is the one to tell
                raise failures[0] from None
            raise
    elif mode == "overwrite":
        write_deltalake(path, reader, mode="overwrite", schema_mode="overwrite")
    elif mode == "append":
        write_deltalake(path, reader, mode="append", schema_mode="merge")
    elif predicate is not None and (Path(path) / "_delta_log").is_dir():
        write_deltalake(path, reader, mode="overwrite", predicate=predicate)
    else:  # replace_where on a new table, or with no rows to replace
        write_deltalake(path, reader, mode="append")


class CheckFailed(ValueError):
    """Rows of a relation written with ``checks`` broke one: nothing was committed."""


def _checked(
    con: duckdb.DuckDBPyConnection,
    reader: pa.RecordBatchReader,
    checks: list[str],
    relation: str,
    failures: list[CheckFailed],
) -> pa.RecordBatchReader:
    """``reader``'s batches, each tested against ``checks`` before the writer takes it (on a cursor of its own: a
    query on ``con`` would end the stream); a failed check is raised and also put in ``failures``."""
    counts = ", ".join(f"count(*) filter (where not coalesce(({check}), true))" for check in checks)

    def batches():
        with con.cursor() as checker:
            for batch in reader:
                failed = checker.from_arrow(batch).aggregate(counts).fetchone() or ()
                broken = [f"{check} ({rows:,} rows)" for check, rows in zip(checks, failed, strict=True) if rows]
                if broken:
                    failures.append(
                        CheckFailed(f"{relation}: rows break a check: {'; '.join(broken)}; nothing written")
                    )
                    raise failures[-1]
                yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _merge_relation(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    path: str,
    merge_on: str | None,
    inserts_only: bool,
    whole: str | None,
    delete_flag: str | None,
) -> None:
    if merge_on is None or whole is None:
        raise ValueError(f"delta_mode merge needs a key (unique_key) and the whole relation for {relation}")
    # the rows the table keeps or gains (without the flag column)
    upserts = f"(select * exclude ({delete_flag}) from {relation} where not {delete_flag})" if delete_flag else relation
    if not (Path(path) / "_delta_log").is_dir():  # the lake lost the table: write all of it
        kept = f"select * from {whole} anti join {relation} using ({merge_on})"
        rows = f"({kept} union all by name select * from {upserts})"
        write_relation(con, rows, path)
        return
    if con.sql(f"select count(*) from {relation}").fetchone() == (0,):
        return  # nothing changed: no commit
    if inserts_only:
        write_deltalake(path, con.sql(f"select * from {upserts}").to_arrow_reader(_BATCH_ROWS), mode="append")
        return
    reader = con.sql(f"select * from {relation}").to_arrow_reader(_BATCH_ROWS)
    merger = DeltaTable(path).merge(
        reader, predicate=f"target.{merge_on} = changed.{merge_on}", source_alias="changed", target_alias="target"
    )
    if delete_flag:
        merger = (
            merger.when_matched_delete(predicate=f"changed.{delete_flag}")
            .when_matched_update_all(except_cols=[delete_flag])
            .when_not_matched_insert_all(predicate=f"not changed.{delete_flag}", except_cols=[delete_flag])
        )
    else:
        merger = merger.when_matched_update_all().when_not_matched_insert_all()
    merger.execute()


def _replace_with_files_of(
    con: duckdb.DuckDBPyConnection, relation: str, path: str, source: str, replace_on: str
) -> bool:
    """replace_where of one snapshot by the Parquet files of the Delta table at ``source`` (hard-linked into ``path``,
    copied where a link fails) and the removal of the files that hold the snapshot it replaces, in one commit:
    re-encoding a million trait rows cost about 2.5 s of CPU per build. Only when it can be checked: ``source``'s
    files are the adds of its last commit (a whole-table write, no deletion vectors), of the same schema, no
    partitions, as many rows as the relation and all of them the relation's one ``replace_on`` value; the files of
    ``path`` that hold that value hold nothing else (read from the files, not from statistics, which keep only
    milliseconds). Else False: nothing was done, and the caller writes the rows."""
    if not ((Path(path) / "_delta_log").is_dir() and (Path(source) / "_delta_log").is_dir()):
        return False
    values = con.sql(f'select distinct "{replace_on}" from {relation}').fetchall()
    if len(values) != 1 or not isinstance(values[0][0], datetime):
        return False
    snapshot: datetime = values[0][0]
    origin, target = DeltaTable(source), DeltaTable(path)
    if origin.schema() != target.schema() or origin.metadata().partition_columns or target.metadata().partition_columns:
        return False
    commit = Path(source) / "_delta_log" / f"{origin.version():020d}.json"
    adds = [action["add"] for line in commit.read_text().splitlines() if "add" in (action := json.loads(line))]
    if {add["path"] for add in adds} != {uri.rsplit("/", 1)[-1] for uri in origin.file_uris()} or any(
        add.get("deletionVector") for add in adds
    ):
        return False
    (rows,) = con.sql(f"select count(*) from {relation}").fetchone() or (None,)
    if _rows_other_than(con, [Path(source) / add["path"] for add in adds], replace_on, snapshot) != (0, rows):
        return False
    files = pa.table(target.get_add_actions(flatten=True)).to_pydict()
    lows, highs = files.get(f"min.{replace_on}"), files.get(f"max.{replace_on}")
    removed = [
        (file, size)
        for file, size, low, high in zip(
            files["path"],
            files["size_bytes"],
            lows or [None] * len(files["path"]),
            highs or [None] * len(files["path"]),
            strict=True,
        )
        if low is None
        or high is None
        or low <= snapshot.replace(microsecond=snapshot.microsecond // 1000 * 1000) <= high
    ]
    if removed and _rows_other_than(con, [Path(path) / file for file, _ in removed], replace_on, snapshot)[0] != 0:
        return False
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = [RemoveAction(file, True, now, size, {}) for file, size in removed]
    for add in adds:
        name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
        try:
            os.link(Path(source) / add["path"], Path(path) / name)
        except OSError:
            shutil.copyfile(Path(source) / add["path"], Path(path) / name)
        actions.append(AddAction(name, add["size"], {}, now, True, add["stats"]))
    target.create_write_transaction(actions, mode="append", schema=target.schema())
    return True


def _rows_other_than(
    con: duckdb.DuckDBPyConnection, files: list[Path], column: str, value: datetime
) -> tuple[int, int]:
    """(rows whose ``column`` is not ``value``, all rows) of the Parquet ``files``."""
    found = con.execute(
        f'select count(*) filter (where "{column}" is distinct from $value), count(*) from read_parquet($files)',
        {"value": value, "files": [str(file) for file in files]},
    ).fetchone()
    assert found is not None
    return found[0], found[1]


def _values_predicate(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> str | None:
    """A Delta predicate matching the distinct timestamps of ``column`` in ``relation`` (None when it is empty)."""
    rows = con.sql(f'select distinct "{column}" from {relation} where "{column}" is not null').fetchall()
    if not rows:
        return None
    values = []
    for (value,) in rows:
        if not isinstance(value, datetime):
            kind = type(value).__name__
            raise ValueError(f"delta_replace_on column {column} of {relation} holds {kind}, not a timestamp")
        values.append(f"{column} = '{value.astimezone(UTC).isoformat()}'")
    return " or ".join(values)
