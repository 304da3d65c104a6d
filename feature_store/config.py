"""The Feast store configuration for an environment, built from Settings (no feature_store.yaml, no secrets on disk).

``local``: SQLite online store and a file registry, both under ``<lake_root>/_features`` (one store per lake).
``ci``/``prod``: Redis online store (``redis_url``) and a SQL registry in Postgres (``postgres_url``). Either part
can be chosen on its own with ``feature_online_store`` / ``feature_registry``. The offline store is always Feast's
DuckDB store, which reads the Delta marts where they are.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.infra.registry.sql import SqlRegistryConfig
from feast.repo_config import RegistryConfig, RepoConfig

from cdp.lake import Lake
from cdp.settings import FeatureOnlineStore, FeatureRegistry, Settings

MATERIALISE_BATCH_ROWS = 20_000  # rows converted to protobuf and written per online-store batch
REGISTRY_CACHE_SECONDS = 60  # how long a process reads Feast's cached registry before reading it again


def features_dir(lake: Lake) -> Path:
    """Local store files of this lake: the file registry, the SQLite online store, DuckDB's extension folder."""
    return lake.root / "_features"


def online_store_kind(settings: Settings) -> FeatureOnlineStore:
    return settings.feature_online_store or ("sqlite" if settings.env == "local" else "redis")


def registry_kind(settings: Settings) -> FeatureRegistry:
    return settings.feature_registry or ("file" if settings.env == "local" else "sql")


def redis_connection_string(redis_url: str) -> str:
    """``redis://:secret@host:6379/2`` -> ``host:6379,db=2,password=secret`` (Feast's own format)."""
    url = urlsplit(redis_url)
    if url.scheme not in ("redis", "rediss"):
        raise ValueError(f"CDP_REDIS_URL must start with redis:// or rediss://, not {redis_url!r}")
    parts = [f"{url.hostname or '127.0.0.1'}:{url.port or 6379}"]
    db = url.path.strip("/")
    if db:
        parts.append(f"db={int(db)}")
    if url.password:
        parts.append(f"password={unquote(url.password)}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def sqlalchemy_url(postgres_url: str) -> str:
    """A libpq URL as SQLAlchemy's psycopg 3 URL (the driver installed here)."""
    scheme, sep, rest = postgres_url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"CDP_POSTGRES_URL must be a postgresql:// URL, not {postgres_url!r}")
    return f"postgresql+psycopg://{rest}"


def repo_config(settings: Settings, *, registry_cache_seconds: int = REGISTRY_CACHE_SECONDS) -> RepoConfig:
    """Feast's config for ``settings``. ``registry_cache_seconds=0`` keeps the registry cached until it is refreshed
    explicitly (the API refreshes it in the background: see ``Features(serving=True)``)."""
    lake = Lake(settings.lake_root)
    local = features_dir(lake)
    registry: RegistryConfig
    if registry_kind(settings) == "file":
        registry = RegistryConfig(
            registry_type="file", path=str(local / "registry.db"), cache_ttl_seconds=registry_cache_seconds
        )
    else:
        # One registry database for every lake; projects (feature_project) keep environments apart.
        registry = SqlRegistryConfig(
            registry_type="sql",
            path=sqlalchemy_url(settings.postgres_url),
            cache_ttl_seconds=registry_cache_seconds,
            sqlalchemy_config_kwargs={"echo": False, "pool_pre_ping": True},  # survive a Postgres restart
        )
    online: SqliteOnlineStoreConfig | RedisOnlineStoreConfig
    if online_store_kind(settings) == "sqlite":
        online = SqliteOnlineStoreConfig(path=str(local / "online.db"))
    else:
        # A bounded wait: a hung Redis answers 503 after 2 s instead of holding the request forever.
        online = RedisOnlineStoreConfig(
            connection_string=redis_connection_string(settings.redis_url) + ",socket_timeout=2,socket_connect_timeout=2"
        )
    return RepoConfig(
        project=settings.feature_project,
        provider="local",
        # As a dict: RepoConfig picks the registry's config class from registry_type (an object loses its class).
        registry=registry.model_dump(exclude_unset=True),
        online_store=online,
        offline_store=DuckDBOfflineStoreConfig(),
        materialization={
            # Only each customer's latest row in the window leaves DuckDB (the default pulls every snapshot in it).
            "pull_latest_features": True,
            # Convert and write in slices: peak memory no longer grows with the number of customers.
            "online_write_batch_size": MATERIALISE_BATCH_ROWS,
        },
        repo_path=local,
        entity_key_serialization_version=3,
    )
