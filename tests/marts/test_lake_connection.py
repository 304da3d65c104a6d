"""The process's DuckDB database for lake readers (marts.duckdb_delta.lake_connection): the Delta extension loaded
once, a connection (cursor) per caller with its own temp objects, and a database inherited from another process
(a fork) never used."""

from __future__ import annotations

import os

import duckdb
import pytest

import marts.duckdb_delta as duckdb_delta


def test_the_delta_extension_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real = duckdb_delta.load_delta_extension
    monkeypatch.setattr(duckdb_delta, "load_delta_extension", lambda con: (loads.append(1), real(con)))
    monkeypatch.setattr(duckdb_delta, "_database", None, raising=False)
    first, second = duckdb_delta.lake_connection(), duckdb_delta.lake_connection()
    assert len(loads) == 1
    # Both read Delta (the extension is the database's), and each keeps its own temp objects.
    first.execute("create temp table mine as select 1 as x")
    with pytest.raises(Exception, match="mine"):
        second.execute("select * from mine")
    assert second.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
    first.close()
    second.close()


def test_a_database_opened_by_another_process_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a forked child finds: the parent's database under the parent's pid (simulated: a real fork of this test
    # process hung in the child once the other tests' exports had run their DuckDB and Delta writer threads).
    inherited = duckdb.connect()
    inherited.execute("create table parents as select 1 as x")
    monkeypatch.setattr(duckdb_delta, "_database", (os.getpid() + 1, inherited), raising=False)
    con = duckdb_delta.lake_connection()
    assert con.execute("select count(*) from duckdb_tables() where table_name = 'parents'").fetchone() == (0,)
    assert duckdb_delta._database is not None and duckdb_delta._database[0] == os.getpid()
    con.close()
