"""Apply, materialise, and read features: the few operations the CLI, Dagster and the API need from Feast.

One :class:`Features` per process: building Feast's ``FeatureStore`` takes seconds, so it is made once, lazily.
Materialisation is incremental and moves forward with the builds: each run loads the online store with what the
marts hold up to the build's ``as_of`` (a demo's ``as_of`` is in the past, so "up to now" would be wrong twice: it
would skip back-dated snapshots, and Feast's first window only reaches a year back).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from cdp import lake as layout
from cdp.lake import Lake
from cdp.settings import Settings
from feature_store.config import REGISTRY_CACHE_SECONDS, features_dir, online_store_kind, registry_kind, repo_config

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENTITY_KEY = "customer_id"
EVENT_TIMESTAMP = "event_timestamp"
SERVICE_CACHE_SECONDS = 60.0  # as long as Feast's own registry cache (config.py)
WARM_CUSTOMER_ID = "cus_0000000000000000"  # read after a registry refresh; never minted (ids are hashes)

_duckdb_lock = threading.Lock()
_duckdb_ready: set[str] = set()


class FeatureStoreError(RuntimeError):
    """A feature operation that cannot run as asked, with a message for the person who asked."""


def prepare_offline_store(lake: Lake) -> None:
    """Make Feast's DuckDB offline store read Delta without a download, in UTC.

    The store reads through ibis' default DuckDB connection, which runs ``INSTALL delta`` (a download) unless the
    extension is installed; installing the bundled extension file into a folder under the lake avoids that.
    """
    import ibis

    from marts.duckdb_delta import delta_extension_path

    folder = features_dir(lake) / "duckdb_extensions"
    with _duckdb_lock:
        if str(folder) in _duckdb_ready:
            return
        folder.mkdir(parents=True, exist_ok=True)
        con = ibis.get_backend().con  # type: ignore[attr-defined]
        # Timestamps compare as UTC whatever the machine's zone (the store casts timestamptz to timestamp).
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set extension_directory = '{folder}'")
        con.execute(f"install '{delta_extension_path()}'")
        con.execute("load delta")
        _duckdb_ready.add(str(folder))


@dataclass(frozen=True)
class MaterializeReport:
    views: dict[str, tuple[datetime, datetime]]  # view -> (start, end) of the window loaded
    audience_rows: int
    seconds: float


class Features:
    """The feature store of one lake and environment (Settings).

    ``serving=True`` (the API) keeps reads free of registry work. Feast otherwise re-reads an expired registry inside
    the read that finds it expired, and the read after that re-resolves its features: every minute one request paid
    12-25 ms for the refresh (Postgres) and 24-33 ms for the resolution. Here the registry never expires on its own; a
    background thread refreshes it every ``registry_refresh_seconds`` and then reads the warm customer through every
    feature list served so far, so the resolution is redone there, not in a request.
    """

    def __init__(
        self, settings: Settings, *, serving: bool = False, registry_refresh_seconds: float = REGISTRY_CACHE_SECONDS
    ) -> None:
        self.settings = settings
        self.lake = Lake(settings.lake_root)
        self.serving = serving
        self.registry_refresh_seconds = registry_refresh_seconds
        self._store: Any = None
        self._lock = threading.Lock()
        self._services: dict[str, tuple[Any, float]] = {}
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._served: dict[Any, Any] = {}  # feature lists read so far (service name or refs) -> Feast's argument
        self._stop = threading.Event()

    def describe(self) -> str:
        return (
            f"project {self.settings.feature_project}: online store {online_store_kind(self.settings)}, "
            f"registry {registry_kind(self.settings)}, offline DuckDB on {self.lake.root}"
        )

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from feast import FeatureStore

                features_dir(self.lake).mkdir(parents=True, exist_ok=True)
                cache_seconds = 0 if self.serving else REGISTRY_CACHE_SECONDS  # 0: until refreshed explicitly
                self._store = FeatureStore(config=repo_config(self.settings, registry_cache_seconds=cache_seconds))
                if self.serving:
                    threading.Thread(target=self._keep_registry_fresh, name="feast-registry", daemon=True).start()
            return self._store

    def close(self) -> None:
        """Stop the background registry refresh (serving only)."""
        self._stop.set()

    def _keep_registry_fresh(self) -> None:
        while not self._stop.wait(self.registry_refresh_seconds):
            try:
                store = self._store
                store.refresh_registry()
                self._services.clear()  # services changed by an apply are picked up now
                for served in list(self._served.values()):
                    refs = self.service(served) if isinstance(served, str) else served
                    store.get_online_features(features=refs, entity_rows=[{ENTITY_KEY: WARM_CUSTOMER_ID}])
            except Exception as exc:  # registry or store down: reads go on with the cached registry, retried later
                log.warning("background registry refresh failed: %s", exc)

    def _features_arg(self, service: str | None, features: Sequence[str]) -> Any:
        refs: Any = self.service(service) if service else list(features)
        if self.serving:
            key = service or tuple(features)
            if key not in self._served:
                self._served[key] = service or refs  # a name: the refresh reads the service as it is then
        return refs

    def apply(self) -> list[str]:
        """Register the feature repo (idempotent) and create the online tables; return the names applied."""
        from feature_store.audiences import build_audience_history
        from feature_store.feature_repo import definitions

        if not self.lake.exists(layout.CUSTOMER_TRAIT_HISTORY):
            raise FeatureStoreError(f"no {layout.CUSTOMER_TRAIT_HISTORY} under {self.lake.root}: run `cdp build`")
        if not self.lake.exists(layout.CUSTOMERS):
            raise FeatureStoreError(f"no {layout.CUSTOMERS} under {self.lake.root}: run `cdp build`")
        from feature_store.feature_repo.data_sources import CUSTOMER_AUDIENCE_HISTORY

        if not self.lake.exists(CUSTOMER_AUDIENCE_HISTORY):
            build_audience_history(self.lake)
        objects = definitions(self.lake)
        self.store.apply(objects)
        return [obj.name for obj in objects]

    def materialize(self, end: datetime | None = None) -> MaterializeReport:
        """Load the online store with every change since the last materialisation, up to ``end``.

        ``end`` defaults to the settings' observation time (the build's ``as_of``). A view never materialised
        starts from the beginning of its history.
        """
        from feature_store.audiences import build_audience_history

        started = time.perf_counter()
        end = _aware(end or self.settings.observation_time())
        prepare_offline_store(self.lake)
        audience_rows = build_audience_history(self.lake)
        store = self.store
        store.refresh_registry()
        windows: dict[str, tuple[datetime, datetime]] = {}
        for view in store.list_feature_views():
            start = _aware(view.most_recent_end_time) if view.most_recent_end_time else EPOCH
            if start > end:
                continue  # already loaded past this as_of (builds only move forward)
            store.materialize(start_date=start, end_date=end, feature_views=[view.name])
            windows[view.name] = (start, end)
        return MaterializeReport(windows, audience_rows, time.perf_counter() - started)

    def materialized_until(self) -> dict[str, datetime | None]:
        """Per feature view, the end of the last materialised window (None: never materialised)."""
        store = self.store
        store.refresh_registry()
        return {
            v.name: _aware(v.most_recent_end_time) if v.most_recent_end_time else None
            for v in store.list_feature_views()
        }

    def service_names(self) -> list[str]:
        return sorted(s.name for s in self.store.list_feature_services())

    def service(self, name: str) -> Any:
        """A feature service by name, kept for ``SERVICE_CACHE_SECONDS``: Feast rebuilds the object from the
        registry's protobuf on every lookup (about 10 ms, several times an online read)."""
        from feast.errors import FeatureServiceNotFoundException

        cached = self._services.get(name)
        if cached is not None and time.monotonic() - cached[1] < SERVICE_CACHE_SECONDS:
            return cached[0]
        try:
            service = self.store.get_feature_service(name, allow_cache=True)
        except FeatureServiceNotFoundException:
            known = ", ".join(self.service_names()) or "none (run `cdp features apply`)"
            raise FeatureStoreError(f"no feature service {name!r}; known: {known}") from None
        self._services[name] = (service, time.monotonic())
        return service

    def historical(self, entities: pd.DataFrame, service: str) -> pd.DataFrame:
        """Point-in-time correct features of ``service`` for (customer_id, event_timestamp) rows.

        Each row gets, per feature view, the latest value at or before its timestamp; a customer unknown at that
        time gets nulls. Rows come back in the order given, with any extra columns (labels) kept.
        """
        missing = {ENTITY_KEY, EVENT_TIMESTAMP} - set(entities.columns)
        if missing:
            raise FeatureStoreError(f"entity rows need columns {ENTITY_KEY} and {EVENT_TIMESTAMP}; missing {missing}")
        frame = entities.copy()
        frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
        frame["_row"] = range(len(frame))
        prepare_offline_store(self.lake)
        job = self.store.get_historical_features(entity_df=frame, features=self.service(service))
        result = job.to_df().sort_values("_row").drop(columns="_row").reset_index(drop=True)
        return result

    def online(self, customer_ids: Sequence[str], *, service: str | None = None, features: Sequence[str] = ()) -> Any:
        """Online features (Feast's response) for customers: a feature service's, or ``view:feature`` refs."""
        refs = self._features_arg(service, features)
        return self.store.get_online_features(features=refs, entity_rows=[{ENTITY_KEY: cid} for cid in customer_ids])

    async def online_async(
        self, customer_ids: Sequence[str], *, service: str | None = None, features: Sequence[str] = ()
    ) -> Any:
        """:meth:`online` for an event loop (the API): Redis is read through Feast's async client, so the loop serves
        other requests while Redis answers and no request waits for a thread (a thread hop cost more than the read).

        SQLite (local files, no async read in Feast) is read inline. Feast keeps one async Redis client per store,
        bound to the loop that first used it; a call from another loop (a second test client) reads synchronously.
        """
        refs = self._features_arg(service, features)
        rows = [{ENTITY_KEY: cid} for cid in customer_ids]
        store = self.store
        if online_store_kind(self.settings) == "redis":
            loop = asyncio.get_running_loop()
            if self._async_loop is None:
                self._async_loop = loop
            if loop is self._async_loop:
                return await store.get_online_features_async(features=refs, entity_rows=rows)
        return store.get_online_features(features=refs, entity_rows=rows)

    def forget(self, customer_ids: Sequence[str]) -> int:
        """Delete customers from the online store (erasure); return how many stored rows or hashes went.

        Feast has no delete for entities: this removes what its stores wrote, keyed as they key it (a Redis hash per
        customer and project; a row per customer and feature in each view's SQLite table). The offline side is the
        lake's: once a person's rows are erased there, no later materialisation brings them back.
        """
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        store = self.store
        version = store.config.entity_key_serialization_version
        keys = [
            EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(string_val=customer_id)])
            for customer_id in customer_ids
        ]
        if not keys:
            return 0
        if online_store_kind(self.settings) == "redis":
            import redis
            from feast.infra.online_stores.helpers import _redis_key

            client = redis.Redis.from_url(self.settings.redis_url)
            try:
                removed: Any = client.delete(*[_redis_key(store.project, key, version) for key in keys])
                return int(removed)
            finally:
                client.close()
        import sqlite3

        from feast.infra.online_stores.sqlite import _table_id

        serialized = [serialize_entity_key(key, version) for key in keys]
        deleted = 0
        with sqlite3.connect(store.config.online_store.path) as con:
            # Erasure: deleted rows must not stay readable in the file's free pages.
            con.execute("pragma secure_delete = on")
            for view in store.list_feature_views():
                marks = ", ".join("?" * len(serialized))
                table = _table_id(store.project, view)
                deleted += con.execute(f'delete from "{table}" where entity_key in ({marks})', serialized).rowcount
        return deleted


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
