"""The prod Dagster instance (orchestration/dagster_prod.yaml) against the real Postgres: runs are stored there.

Each test gets its own schema (through libpq's search_path option in the URL), so it never touches other data in
the ``test`` database and leaves nothing behind. Postgres missing is a skip on a laptop and a failure in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from cdp.settings import Settings
from orchestration.definitions import defs
from orchestration.defs.ingest import bronze_key
from orchestration.instance import dagster_environment, write_dagster_home

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_schema() -> Iterator[tuple[psycopg.Connection, str]]:
    try:
        conn = psycopg.connect(POSTGRES_URL, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Postgres at {POSTGRES_URL} is unreachable in CI (a skip in CI is a failure): {exc}")
        pytest.skip(f"Postgres at {POSTGRES_URL} is unreachable ({exc}); start it to run this test, CI always does")
    schema = f"dagster_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield conn, schema
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def test_ingest_run_is_stored_in_postgres(
    postgres_schema: tuple[psycopg.Connection, str], tmp_path: Path, run_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, schema = postgres_schema
    settings = Settings(
        env="prod", dagster_home=tmp_path / "dagster", postgres_url=f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    )
    home = write_dagster_home(settings)
    for name, value in dagster_environment(settings).items():  # what `make dev` / the daemon would be given
        monkeypatch.setenv(name, value)
    assert "postgresql://" not in (home / "dagster.yaml").read_text()

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            run_config=run_config, instance=instance, asset_selection=[bronze_key("events"), bronze_key("crm_contacts")]
        )
        assert result.success
    finally:
        instance.dispose()

    row = conn.execute(
        f'SELECT pipeline_name, status FROM "{schema}".runs WHERE run_id = %s', [result.run_id]
    ).fetchone()
    assert row == ("ingest_job", "SUCCESS")
    checks = conn.execute(
        f'SELECT count(*) FROM "{schema}".asset_check_executions WHERE run_id = %s', [result.run_id]
    ).fetchone()
    assert checks == (len(result.get_asset_check_evaluations()),) == (6,)
