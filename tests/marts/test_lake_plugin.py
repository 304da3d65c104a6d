"""The dbt lake plugin writes a model to Delta on a cursor of its own: that cursor must carry the run's variables,
or a DuckDB view reading as_of (getvariable) is written with no as_of at all (how ea35a32 wrote an empty
customer_consents)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from dbt.adapters.duckdb.utils import TargetConfig, TargetLocation
from deltalake import DeltaTable

from marts.dbt_lake_plugin import Plugin
from marts.run_vars import AS_OF_ENV

AS_OF = datetime(2026, 1, 3, tzinfo=UTC)


def test_a_view_reading_as_of_is_written_with_the_runs_as_of(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AS_OF_ENV, AS_OF.isoformat())
    plugin = Plugin("lake", {})
    con = duckdb.connect()
    plugin.configure_connection(con)
    dbt_cursor = con.cursor()
    plugin.configure_cursor(dbt_cursor)  # as dbt-duckdb does for the cursor that builds the model
    dbt_cursor.execute("create view in_force as select getvariable('cdp_as_of') as as_of, 1 as n")
    target = tmp_path / "in_force"
    plugin.store(TargetConfig("in_force", [], {}, TargetLocation(str(target), "delta")))
    rows = DeltaTable(str(target)).to_pyarrow_table().to_pylist()
    assert rows == [{"as_of": AS_OF, "n": 1}]
