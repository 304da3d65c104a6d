"""write_relation's ``checks`` (the contract constraints of a delta_lake_view mart, marts/duckdb_delta.py): every batch
of the stream is tested before the Delta writer takes it; a row that breaks a check fails the write before the commit,
so the table keeps its last version, and a null passes as it does a SQL CHECK."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from marts.duckdb_delta import _BATCH_ROWS, CheckFailed, write_relation

ROWS = 2 * _BATCH_ROWS + 5  # three batches: a check on one must not end the stream of the others
CHECKS = ["segment in ('a', 'b')", "id is not null"]


def _rows(con: duckdb.DuckDBPyConnection, name: str, bad_at: int | None, bad: str | None = "z") -> None:
    value = (
        "'a'"
        if bad_at is None
        else f"case when range = {bad_at} then {'null' if bad is None else repr(bad)} else 'a' end"
    )
    con.execute(f"create table {name} as select range as id, {value} as segment from range({ROWS})")


def test_every_batch_is_written_when_the_checks_hold_and_a_null_passes(tmp_path: Path) -> None:
    con = duckdb.connect()
    _rows(con, "nulls", bad_at=ROWS - 1, bad=None)
    write_relation(con, "nulls", str(tmp_path / "t"), checks=CHECKS)
    assert DeltaTable(str(tmp_path / "t")).to_pyarrow_table().num_rows == ROWS


def test_a_row_breaking_a_check_in_a_later_batch_fails_before_the_commit(tmp_path: Path) -> None:
    con = duckdb.connect()
    _rows(con, "good", bad_at=None)
    write_relation(con, "good", str(tmp_path / "t"), checks=CHECKS)
    _rows(con, "bad", bad_at=ROWS - 1)
    with pytest.raises(CheckFailed, match=r"bad: rows break a check: segment in \('a', 'b'\) \(1 rows\)"):
        write_relation(con, "bad", str(tmp_path / "t"), checks=CHECKS)
    table = DeltaTable(str(tmp_path / "t"))
    assert table.version() == 0 and table.to_pyarrow_table().column("segment").unique().to_pylist() == ["a"]


def test_checks_are_for_overwrite_only(tmp_path: Path) -> None:
    con = duckdb.connect()
    _rows(con, "good", bad_at=None)
    with pytest.raises(ValueError, match="overwrite only"):
        write_relation(con, "good", str(tmp_path / "t"), mode="append", checks=CHECKS)
