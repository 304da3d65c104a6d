"""A small lake of gold marts written directly (schemas from the marts' dbt contracts), and feature stores on it.

Each test states the trait snapshots, golden records and audience stays it needs; columns left out are null. The
stores are real: SQLite + file registry (``local``), Redis + SQL registry in Postgres (``prod``). A test that needs
Redis or Postgres fails when ``CI`` is set and the service is down, and is skipped otherwise.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import redis
import yaml
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake
from cdp.settings import Settings
from feature_store.store import Features

MARTS_YML = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts" / "_marts.yml"
TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.endswith("[]"):
        return pa.list_(_arrow_type(sql_type[:-2]))
    if match := re.fullmatch(r"decimal\((\d+),(\d+)\)", sql_type):
        return pa.decimal128(int(match[1]), int(match[2]))
    return {
        "varchar": pa.string(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "double": pa.float64(),
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
    }[sql_type]


@cache
def contract_schema(model: str) -> pa.Schema:
    """The Arrow schema of a mart from its enforced dbt contract."""
    models = {m["name"]: m for m in yaml.safe_load(MARTS_YML.read_text())["models"]}
    return pa.schema([(c["name"], _arrow_type(c["data_type"])) for c in models[model]["columns"]])


def write_mart(
    lake: Lake, table: layout.Table, model: str, rows: list[dict[str, Any]], *, mode: str = "overwrite"
) -> None:
    schema = contract_schema(model)
    full = [{**{f.name: None for f in schema}, **row} for row in rows]
    for row in full:
        for key in ("monetary_value", "net_amount"):
            if isinstance(row.get(key), int | float):
                row[key] = Decimal(str(row[key]))
    write_deltalake(lake.uri(table), pa.Table.from_pylist(full, schema=schema), mode=mode)  # type: ignore[call-overload]


def write_trait_history(lake: Lake, rows: list[dict[str, Any]], *, mode: str = "overwrite") -> None:
    """Trait snapshots: customer_traits' columns (a build appends one snapshot per as_of)."""
    write_mart(lake, layout.CUSTOMER_TRAIT_HISTORY, "customer_traits", rows, mode=mode)


def write_customers(lake: Lake, rows: list[dict[str, Any]]) -> None:
    write_mart(lake, layout.CUSTOMERS, "customers", rows)


def write_memberships(lake: Lake, rows: list[dict[str, Any]]) -> None:
    stays = [{"membership_id": f"m{i}", "is_holdout": False, **row} for i, row in enumerate(rows)]
    write_mart(lake, layout.AUDIENCE_MEMBERSHIPS, "audience_memberships", stays)


def require_service(name: str, probe) -> None:
    try:
        probe()
    except Exception as exc:
        message = f"{name} is not reachable ({exc}); start it (see ENVIRONMENT.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def require_redis() -> None:
    require_service("Redis at 127.0.0.1:6379", lambda: redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())


def require_postgres() -> None:
    require_service("Postgres at 127.0.0.1:5432", lambda: psycopg.connect(TEST_POSTGRES_URL, connect_timeout=3).close())


def store_settings(lake: Lake, environment: str, **overrides: Any) -> Settings:
    """Settings for a store on ``lake``: ``local`` (SQLite, file registry) or ``prod`` (Redis, Postgres registry).

    Every store gets its own Feast project, so tests sharing Redis and the registry database never meet.
    """
    if environment == "prod":
        require_redis()
        require_postgres()
    values: dict[str, Any] = {
        "env": environment,
        "lake_root": lake.root,
        "feature_project": f"test_{uuid.uuid4().hex[:12]}",
        "postgres_url": TEST_POSTGRES_URL,
        "redis_url": REDIS_URL,
    }
    return Settings(**{**values, **overrides})


def drop_store(features: Features) -> None:
    """Remove this test's project only (Feast's own teardown would delete every project in the registry)."""
    store = features.store
    views = store.list_feature_views()
    store._get_provider().teardown_infra(store.project, views, store.list_entities())
    store.delete_project(store.project)


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory) -> Lake:
    return Lake(tmp_path_factory.mktemp("features") / "lake")


def open_features(settings: Settings) -> Iterator[Features]:
    features = Features(settings)
    try:
        yield features
    finally:
        if features._store is not None:
            drop_store(features)


def write_identity(lake: Lake, records: list[tuple[str, str, str, str]]) -> None:
    """Identity graph rows: (customer_id, source_record_id, id_type, normalised value), one record each."""
    from marts.source_tables import OTHER_SOURCE_SCHEMAS

    at = ts("2025-01-01")
    mapping = [
        {"customer_id": c, "source": "crm", "source_record_id": r, "matched_by": "email", "match_probability": 1.0,
         "observed_at": at, "rule_version": "test", "run_id": "test"}
        for c, r, _, _ in records
    ]  # fmt: skip
    identifiers = [
        {"node": i, "record_key": f"crm:{r}", "source": "crm", "source_record_id": r, "observed_at": at,
         "id_type": t, "raw_value": v, "region_hint": None, "value": v, "drop_reason": None, "status": "used",
         "run_id": "test"}
        for i, (_, r, t, v) in enumerate(records)
    ]  # fmt: skip
    for table, rows in ((layout.IDENTITY_MAP, mapping), (layout.IDENTITY_IDENTIFIERS, identifiers)):
        schema = OTHER_SOURCE_SCHEMAS[table]
        write_deltalake(lake.uri(table), pa.Table.from_pylist(rows, schema=schema), mode="overwrite")
