"""The delta materialization's merge with a delete flag (marts/duckdb_delta.write_relation): changed rows replace
theirs, flagged rows remove theirs, and the flag column is never stored, in an existing Delta table or when the
lake lost it."""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable, write_deltalake

from marts.duckdb_delta import write_relation

BUILT = "select * from (values ('a', 1), ('b', 2), ('c', 3)) as t(id, value)"
# b changes, c goes, d arrives
CHANGED = "select * from (values ('b', 20, false), ('c', 3, true), ('d', 4, false)) as t(id, value, is_removed)"


def _rows(path: str) -> list[tuple]:
    table = DeltaTable(path).to_pyarrow_table()
    assert table.column_names == ["id", "value"]
    return sorted(zip(table["id"].to_pylist(), table["value"].to_pylist(), strict=True))


def _connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"create table built as {BUILT}")
    con.execute(f"create table changed as {CHANGED}")
    return con


def test_merge_replaces_and_removes_rows(tmp_path) -> None:
    con = _connection()
    path = str(tmp_path / "t")
    write_deltalake(path, con.sql("select * from built").to_arrow_table())
    write_relation(con, "changed", path, mode="merge", merge_on="id", whole="built", delete_flag="is_removed")
    assert _rows(path) == [("a", 1), ("b", 20), ("d", 4)]
    assert DeltaTable(path).history(1)[0]["operation"] == "MERGE"


def test_merge_of_only_new_keys_appends_them_without_the_flag(tmp_path) -> None:
    con = _connection()
    path = str(tmp_path / "t")
    write_deltalake(path, con.sql("select * from built").to_arrow_table())
    con.execute("delete from changed where id <> 'd'")
    write_relation(con, "changed", path, mode="merge", merge_on="id", inserts_only=True, whole="built",
                   delete_flag="is_removed")  # fmt: skip
    assert _rows(path) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]


def test_merge_into_a_lost_table_writes_the_whole_result(tmp_path) -> None:
    con = _connection()
    path = str(tmp_path / "t")
    write_relation(con, "changed", path, mode="merge", merge_on="id", whole="built", delete_flag="is_removed")
    assert _rows(path) == [("a", 1), ("b", 20), ("d", 4)]
