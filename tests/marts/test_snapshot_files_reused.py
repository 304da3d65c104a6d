"""The trait history's snapshot re-uses the Parquet files customer_traits wrote (marts/duckdb_delta.write_relation,
``files_of``): the snapshot's rows land in the history through links to those files, a re-run for the same as_of
replaces only its own snapshot, and whenever the files cannot be shown to hold the relation's rows the rows are
written as before."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from deltalake import DeltaTable

from marts.duckdb_delta import write_relation

DAY1 = datetime(2026, 1, 1, tzinfo=UTC)
DAY2 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)  # sub-millisecond: Delta statistics keep milliseconds
DAY3 = datetime(2026, 1, 3, tzinfo=UTC)


def _traits(con: duckdb.DuckDBPyConnection, as_of: datetime, values: list[int]) -> None:
    rows = ", ".join(f"('c{i}', {v})" for i, v in enumerate(values))
    con.execute(
        f"create or replace table traits as select id, value, $as_of::timestamptz as as_of"
        f" from (values {rows}) as t(id, value)",
        {"as_of": as_of},
    )


def _build(con: duckdb.DuckDBPyConnection, lake: Path, as_of: datetime, values: list[int]) -> None:
    """One build: customer_traits overwritten, then its snapshot into the history (a view of it)."""
    _traits(con, as_of, values)
    write_relation(con, "traits", str(lake / "traits"), mode="overwrite")
    con.execute("create or replace view history as select * from traits")
    write_relation(
        con, "history", str(lake / "history"), mode="replace_where", replace_on="as_of", files_of=str(lake / "traits")
    )


def _rows(path: Path) -> list[tuple]:
    table = DeltaTable(str(path)).to_pyarrow_table()
    return sorted(zip(table["id"].to_pylist(), table["value"].to_pylist(), table["as_of"].to_pylist(), strict=True))


def _inodes(path: Path) -> set[int]:
    return {os.stat(uri.removeprefix("file://")).st_ino for uri in DeltaTable(str(path)).file_uris()}


def _linked(lake: Path) -> bool:
    """Every file of the traits table is also a file of the history (the same inode)."""
    return _inodes(lake / "traits") <= _inodes(lake / "history")


def test_snapshots_link_the_traits_files_and_a_rerun_replaces_only_its_own(tmp_path: Path) -> None:
    con = duckdb.connect()
    _build(con, tmp_path, DAY1, [1, 2])  # first build: no history table yet, written from the rows
    _build(con, tmp_path, DAY2, [10, 20, 30])
    assert _linked(tmp_path)
    assert _rows(tmp_path / "history") == [
        ("c0", 1, DAY1), ("c0", 10, DAY2), ("c1", 2, DAY1), ("c1", 20, DAY2), ("c2", 30, DAY2)
    ]  # fmt: skip
    _build(con, tmp_path, DAY2, [11])  # the same as_of again: its snapshot replaced, day 1 kept
    assert _linked(tmp_path)
    assert _rows(tmp_path / "history") == [("c0", 1, DAY1), ("c0", 11, DAY2), ("c1", 2, DAY1)]


def test_files_that_do_not_hold_the_relation_s_rows_are_not_used(tmp_path: Path) -> None:
    con = duckdb.connect()
    _build(con, tmp_path, DAY1, [1, 2])
    _build(con, tmp_path, DAY2, [10, 20])
    # the traits table no longer holds what the history's relation holds (another as_of): the rows are written
    _traits(con, DAY3, [7])
    con.execute("create or replace view history as select * from traits")
    before = _inodes(tmp_path / "history")
    write_relation(
        con, "history", str(tmp_path / "history"), mode="replace_where", replace_on="as_of",
        files_of=str(tmp_path / "traits"),
    )  # fmt: skip
    assert not (_inodes(tmp_path / "history") - before) & _inodes(tmp_path / "traits")
    assert _rows(tmp_path / "history") == [
        ("c0", 1, DAY1), ("c0", 7, DAY3), ("c0", 10, DAY2), ("c1", 2, DAY1), ("c1", 20, DAY2)
    ]  # fmt: skip


def test_a_history_file_holding_the_snapshot_among_others_falls_back_to_the_predicate(tmp_path: Path) -> None:
    con = duckdb.connect()
    _build(con, tmp_path, DAY1, [1, 2])
    # one history file holding two snapshots (as a compaction would leave it)
    con.execute(
        "create or replace table mixed as select * from"
        " (values ('c0', 1, $d1::timestamptz), ('c0', 5, $d2::timestamptz)) as t(id, value, as_of)",
        {"d1": DAY1, "d2": DAY2},
    )
    write_relation(con, "mixed", str(tmp_path / "history"), mode="overwrite")
    _build(con, tmp_path, DAY2, [10])
    assert _rows(tmp_path / "history") == [("c0", 1, DAY1), ("c0", 10, DAY2)]
