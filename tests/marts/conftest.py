"""A small lake written straight in the bronze and identity schemas, so each mart test states exactly its input.

Bronze rows go through :func:`marts.source_tables.bronze_schema` (the contract's own schema); the identity map is
the stage's input contract, written as identity resolution writes it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake
from ingest.contracts import SOURCES
from marts import build as marts_build
from marts.audiences import DBT_PROJECT, compile_audiences
from marts.source_tables import OTHER_SOURCE_SCHEMAS, bronze_schema

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
LINEAGE = {"_source_file": "test", "_row_number": 1, "_file_checksum": "x", "_ingest_run_id": "r", "_problems": []}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class LakeWriter:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.identity: list[dict[str, Any]] = []

    def bronze(self, source: str, rows: list[dict[str, Any]], *, ingested_at: datetime | None = None) -> None:
        schema = bronze_schema(SOURCES[source])
        full = [
            {**{f.name: None for f in schema}, **LINEAGE, "_ingested_at": ingested_at or AS_OF, **row} for row in rows
        ]
        write_deltalake(self.lake.uri(layout.bronze(source)), pa.Table.from_pylist(full, schema=schema), mode="append")

    def link(
        self, customer_id: str, source: str, record_id: str, observed_at: datetime, assigned_at: datetime | None = None
    ) -> None:
        """One identity-map row; ``assigned_at`` None is a map from before the identity job wrote that column."""
        self.identity.append(
            {"customer_id": customer_id, "source": source, "source_record_id": record_id, "matched_by": "customer_ref",
             "match_probability": 1.0, "observed_at": observed_at, "rule_version": "test", "run_id": "test",
             "assigned_at": assigned_at}
        )  # fmt: skip

    def write_identity(self) -> None:
        schema = OTHER_SOURCE_SCHEMAS[layout.IDENTITY_MAP]
        table = pa.Table.from_pylist(self.identity, schema=schema)
        write_deltalake(self.lake.uri(layout.IDENTITY_MAP), table, mode="overwrite")


@pytest.fixture
def lake_writer(lake: Lake) -> LakeWriter:
    return LakeWriter(lake)


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dbt project that builds in this test use instead of the repository's (a test may edit a seed)."""
    compile_audiences()  # the generated audience models go with the copy
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    monkeypatch.setattr(marts_build, "DBT_PROJECT", copy)
    return copy
