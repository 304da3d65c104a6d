"""Feature serving: online reads through the Feast SDK and the profile API on SQLite and Redis, next to the floor
(the same bytes read bare), materialisation time and peak memory, and historical retrieval. Prints Markdown for
BENCHMARKS.md.

    .venv/bin/python benchmarks/feature_serving.py --customers 100000 --requests 10000 --entity-rows 100000

All in one run, on one synthetic lake written straight in the marts' schemas (two trait snapshots per customer,
one audience stay for a fifth of them, a golden record each):
- ``materialise``: ``cdp features materialize`` in its own process per store (wall time, peak RSS of that process).
- ``SDK``: ``FeatureStore.get_online_features(personalisation_v1, one customer)``, one random customer per request.
- ``SDK, 2 views``: the same 28 features laid out for the online path, the 25 trait features in one online-only view
  (beside the eight views they also live in) plus the audiences view: applied and materialised in the benchmark's
  project only, to measure what fewer views save per read (Feast reads and decodes per view).
- ``SDK after a registry refresh``: the first read after ``refresh_registry()``, as Feast's registry cache (60 s) made
  one read a minute pay before the API refreshed in the background (``Features(serving=True)``).
- ``API``: ``POST /v1/features`` (personalisation_v1, one customer) to ``cdp serve`` in its own process, over HTTP
  with a keep-alive client. With ``--baseline-rev REV``, a second server runs ``feature_store/`` as of ``REV`` (the
  rest of the code as now) and requests alternate between the two, so both see the same load. ``GET`` of an unknown
  path (404) on the same server is the HTTP floor: uvicorn, FastAPI routing and the client, no feature read.
- ``floor``: the bytes Feast stored for that customer read with no Feast code: Redis ``HGETALL`` of its hash and a
  ``GET`` of the same bytes as one value; SQLite: the same per-view ``select`` Feast issues, and one select of the
  same bytes stored as one row.
- ``historical``: ``get_historical_features(churn_v1)`` for entity rows at random times (DuckDB offline store).

Redis runs use the prod layout (Redis online store, SQL registry in Postgres database ``test``); the project is
deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdp import lake as layout  # noqa: E402
from cdp.lake import Lake  # noqa: E402
from cdp.settings import Settings  # noqa: E402

SNAPSHOTS = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVICE = "personalisation_v1"
API_KEY = "bench-key"


def customer_ids(n: int) -> list[str]:
    return [f"cus_{i:016x}" for i in range(n)]


def write_lake(lake: Lake, n: int, seed: int) -> None:
    """Trait history (two snapshots), golden records and audience stays for n customers."""
    from deltalake import write_deltalake

    from feature_store.feature_repo.feature_views import CHANNELS, CONSENT_PURPOSES

    rng = np.random.default_rng(seed)
    ids = pa.array(customer_ids(n))
    segments = np.array(["champions", "loyal", "at_risk", "lost", "prospect"])
    for i, as_of in enumerate(SNAPSHOTS):
        frequency = rng.integers(0, 20, n)
        p_alive = rng.random(n)
        columns: dict[str, Any] = {
            "customer_id": ids,
            "as_of": pa.array([as_of] * n, pa.timestamp("us", tz="UTC")),
            "recency_days": rng.random(n) * 365,
            "frequency": frequency,
            "monetary_value": pa.array((rng.random(n) * 1e6).round(2), pa.float64()).cast(pa.decimal128(18, 2)),
            "net_amount": pa.array((rng.random(n) * 1e6).round(2), pa.float64()).cast(pa.decimal128(18, 2)),
            "refund_count": rng.integers(0, 3, n),
            **{f"{s}_score": pa.array(rng.integers(1, 6, n), pa.int32()) for s in "rfm"},
            "rfm_score": pa.array(rng.integers(111, 556, n).astype(str)),
            "value_segment": pa.array(segments[rng.integers(0, len(segments), n)]),
            "tenure_days": rng.random(n) * 1000,
            "preferred_channel": pa.array(np.array(["web", "app", "store", "pos"])[rng.integers(0, 4, n)]),
            "preferred_store_id": pa.array(["HCM-01"] * n),
            "preferred_category": pa.array(np.array(["beauty", "home", "electronics"])[rng.integers(0, 3, n)]),
            "age_band": pa.array(["25_34"] * n),
            "gender": pa.array(np.array(["female", "male"])[rng.integers(0, 2, n)]),
            "p_alive": p_alive,
            "expected_purchases_90d": rng.random(n),
            "expected_purchases_365d": rng.random(n) * 4,
            "expected_value_365d": rng.random(n) * 1e5,
            "churn_risk": 1 - p_alive,
            "churn_risk_band": pa.array(np.where(p_alive < 0.3, "high", np.where(p_alive < 0.6, "medium", "low"))),
            "latest_nps": pa.array(rng.integers(0, 11, n), pa.int32()),
            "nps_category": pa.array(["passive"] * n),
            "is_recent_detractor": rng.random(n) < 0.1,
            "avg_csat": rng.random(n) * 5,
            "avg_ces": rng.random(n) * 7,
            "open_cases": rng.integers(0, 3, n),
            **{f"consent_{p}_{c}": rng.random(n) < 0.5 for p in CONSENT_PURPOSES for c in CHANNELS},
            **{f"messages_{c}_{d}d": rng.integers(0, 5, n) for c in CHANNELS for d in (7, 30)},
            "marketing_messages_30d": rng.integers(0, 10, n),
        }
        table = pa.table(columns)
        write_deltalake(lake.uri(layout.CUSTOMER_TRAIT_HISTORY), table, mode="overwrite" if i == 0 else "append")
    customers = pa.table(
        {
            "customer_id": ids,
            **{c: pa.array([f"{c}-x"] * n) for c in ("first_name", "last_name", "email", "phone", "city", "state")},
            "country": pa.array(["VN"] * n),
            "last_seen_at": pa.array([SNAPSHOTS[0]] * n, pa.timestamp("us", tz="UTC")),
        }
    )
    write_deltalake(lake.uri(layout.CUSTOMERS), customers, mode="overwrite")
    members = ids.take(pa.array(np.arange(0, n, 5)))
    m = len(members)
    stays = pa.table(
        {
            "membership_id": pa.array([f"m{i}" for i in range(m)]),
            "audience_name": pa.array(["vip"] * m),
            "customer_id": members,
            "entered_at": pa.array([SNAPSHOTS[0]] * m, pa.timestamp("us", tz="UTC")),
            "exited_at": pa.array([None] * m, pa.timestamp("us", tz="UTC")),
            "exit_reason": pa.array([None] * m, pa.string()),
            "is_holdout": pa.array([False] * m),
        }
    )
    write_deltalake(lake.uri(layout.AUDIENCE_MEMBERSHIPS), stays, mode="overwrite")


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ms = np.array(samples_ns) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.mean())


def store_env(lake: Lake, store: str, project: str) -> dict[str, str]:
    env = {**os.environ, "CDP_LAKE_ROOT": str(lake.root), "CDP_FEATURE_PROJECT": project}
    if store == "redis":
        env |= {"CDP_ENV": "prod", "CDP_POSTGRES_URL": POSTGRES_URL}
    else:
        env |= {"CDP_ENV": "local"}
    return env


def settings_for(lake: Lake, store: str, project: str) -> Settings:
    if store == "redis":
        return Settings(env="prod", lake_root=lake.root, feature_project=project, postgres_url=POSTGRES_URL)
    return Settings(env="local", lake_root=lake.root, feature_project=project)


def materialise(lake: Lake, store: str, project: str) -> dict[str, float]:
    """``cdp features materialize`` in its own process: wall time, Feast's own time, peak RSS."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "cdp"), "features", "materialize", "--as-of", SNAPSHOTS[-1].isoformat()],
            env=store_env(lake, store, project),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage: its peak RSS
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        raise RuntimeError(f"materialise on {store} failed:\n{output[-3000:]}")
    found = re.search(r"in ([\d.]+) s", " ".join(output.split()))
    peak = usage.ru_maxrss / 1024  # Linux reports KiB
    return {"wall_s": wall, "materialise_s": float(found[1]) if found else float("nan"), "peak_rss_mb": peak}


def sdk_reads(features: Any, ids: list[str], requests: int, rng: random.Random, services: list[str]) -> list[list[int]]:
    """Reads of one customer through each service in turn (same customer, same moment: the load hits all alike)."""
    store = features.store
    resolved = [store.get_feature_service(name) for name in services]
    for _ in range(200):  # warm-up
        for service in resolved:
            store.get_online_features(features=service, entity_rows=[{"customer_id": rng.choice(ids)}]).to_dict()
    samples: list[list[int]] = [[] for _ in resolved]
    for _ in range(requests):
        row = [{"customer_id": rng.choice(ids)}]
        for service, out in zip(resolved, samples, strict=True):
            t = time.perf_counter_ns()
            store.get_online_features(features=service, entity_rows=row).to_dict()
            out.append(time.perf_counter_ns() - t)
    return samples


def _entity_key(customer_id: str) -> Any:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=customer_id)])


def redis_floor(project: str, ids: list[str], requests: int, rng: random.Random) -> dict[str, list[int]]:
    import redis
    from feast.infra.online_stores.helpers import _redis_key

    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = {cid: _redis_key(project, _entity_key(cid), 3) for cid in ids[:2000]}
    blobs: dict[str, bytes] = {}
    for cid, key in keys.items():  # the same bytes as one string value
        blob = b"".join(k + v for k, v in sorted(client.hgetall(key).items()))
        blobs[cid] = blob
        client.set(b"bench:" + key, blob)
    sample_ids = list(keys)
    out: dict[str, list[int]] = {"redis HGETALL (customer's Feast hash)": [], "redis GET (same bytes, one value)": []}
    for _ in range(requests):
        cid = rng.choice(sample_ids)
        t = time.perf_counter_ns()
        client.hgetall(keys[cid])
        out["redis HGETALL (customer's Feast hash)"].append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        client.get(b"bench:" + keys[cid])
        out["redis GET (same bytes, one value)"].append(time.perf_counter_ns() - t)
    client.delete(*[b"bench:" + k for k in keys.values()])
    return out


def sqlite_floor(
    path: Path, project: str, views: list[str], ids: list[str], requests: int, rng: random.Random
) -> dict[str, list[int]]:
    from feast.infra.key_encoding_utils import serialize_entity_key

    con = sqlite3.connect(path)
    keys = {cid: serialize_entity_key(_entity_key(cid), 3) for cid in ids[:2000]}
    queries = [f'select feature_name, value, event_ts from "{project}_{v}" where entity_key = ?' for v in views]
    con.execute("create temp table blob (entity_key blob primary key, value blob)")
    for key in keys.values():
        blob = b"".join(b"".join(r[0].encode() + r[1] for r in con.execute(q, [key])) for q in queries)
        con.execute("insert into blob values (?, ?)", [key, blob])
    sample_ids = list(keys)
    label_views = f"sqlite select per view ({len(views)} views, as Feast reads)"
    out: dict[str, list[int]] = {label_views: [], "sqlite select (same bytes, one row)": []}
    for _ in range(requests):
        key = keys[rng.choice(sample_ids)]
        t = time.perf_counter_ns()
        for q in queries:
            con.execute(q, [key]).fetchall()
        out[label_views].append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        con.execute("select value from blob where entity_key = ?", [key]).fetchone()
        out["sqlite select (same bytes, one row)"].append(time.perf_counter_ns() - t)
    con.close()
    return out


def api_reads(
    lake: Lake,
    store: str,
    project: str,
    ids: list[str],
    requests: int,
    rng: random.Random,
    baseline: tuple[str, Path] | None = None,
) -> dict[str, list[int]]:
    """``POST /v1/features`` to ``cdp serve`` (and to a baseline server, requests alternating), and a 404 floor."""
    import httpx

    from feature_store.auth import digest

    env = store_env(lake, store, project) | {"CDP_API_KEYS": f'{{"{digest(API_KEY)}": ["features:read"]}}'}
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    clients: dict[str, httpx.Client] = {}
    versions = [("now", env)]
    if baseline:
        rev, source = baseline
        versions.append((f"baseline {rev}", env | {"PYTHONPATH": str(source)}))  # its feature_store/ comes first
    try:
        for label, server_env in versions:
            port = 18000 + rng.randrange(2000)
            server = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "cdp"), "serve", "--port", str(port)],
                env=server_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            servers[label] = (port, server)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=30)
            clients[label] = client
            for _ in range(900):
                try:
                    if client.get("/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"cdp serve ({label}) did not start")
        calls = {f"API POST /v1/features ({label})": client for label, client in clients.items()}
        samples: dict[str, list[int]] = {label: [] for label in calls}
        floor = "API floor: GET of an unknown path, 404 (now)"
        samples[floor] = []
        for i in range(200 + requests):
            body = {"service": SERVICE, "customer_ids": [rng.choice(ids)]}
            for label, client in calls.items():
                t = time.perf_counter_ns()
                response = client.post("/v1/features", json=body)
                if i >= 200:
                    samples[label].append(time.perf_counter_ns() - t)
                if response.status_code != 200:
                    raise RuntimeError(response.text)
            t = time.perf_counter_ns()
            clients["now"].get("/v1/no-such-path")
            if i >= 200:
                samples[floor].append(time.perf_counter_ns() - t)
        return samples
    finally:
        for client in clients.values():
            client.close()
        for _, server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


TWO_VIEW_SERVICE = "personalisation_2views"


def apply_two_view_layout(features: Any) -> float:
    """The 25 trait features of personalisation_v1 in one online-only view, plus the audiences view, as a service;
    materialised like the others (this project only: it measures the layout, the repo does not define it). Returns
    the seconds its materialisation took."""
    from feast import FeatureService, FeatureView

    from feature_store.feature_repo.data_sources import lake_sources
    from feature_store.feature_repo.entities import customer
    from feature_store.feature_repo.feature_views import NO_TTL, feature_views

    views = feature_views(lake_sources(features.lake))
    service = features.store.get_feature_service(SERVICE)
    schema = [f for p in service.feature_view_projections if p.name != views.audiences.name for f in p.features]
    online = FeatureView(
        name="customer_personalisation_online",
        entities=[customer],
        ttl=NO_TTL,
        schema=schema,
        source=views.rfm.batch_source,
        online=True,
    )
    features.store.apply([online, FeatureService(name=TWO_VIEW_SERVICE, features=[online, views.audiences])])
    from feature_store.store import EPOCH, prepare_offline_store

    prepare_offline_store(features.lake)
    started = time.perf_counter()
    features.store.materialize(start_date=EPOCH, end_date=SNAPSHOTS[-1], feature_views=[online.name])
    return time.perf_counter() - started  # the extra view's load: the layout's cost at materialisation


def reads_after_refresh(features: Any, ids: list[str], times: int, rng: random.Random) -> list[int]:
    """The first read after each registry refresh (Feast re-resolves the service's views then)."""
    store = features.store
    service = store.get_feature_service(SERVICE)
    samples = []
    for _ in range(times):
        store.refresh_registry()
        row = [{"customer_id": rng.choice(ids)}]
        t = time.perf_counter_ns()
        store.get_online_features(features=service, entity_rows=row).to_dict()
        samples.append(time.perf_counter_ns() - t)
    return samples


def baseline_source(rev: str, into: Path) -> Path:
    """``feature_store/`` as of ``rev`` in a folder put first on the baseline server's path."""
    folder = into / f"baseline-{rev}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "feature_store"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def historical(features: Any, ids: list[str], rows: int, rng: random.Random) -> float:
    import pandas as pd

    start = SNAPSHOTS[0] - timedelta(days=10)
    span = (SNAPSHOTS[-1] + timedelta(days=30) - start).total_seconds()
    entities = pd.DataFrame(
        {
            "customer_id": [rng.choice(ids) for _ in range(rows)],
            "event_timestamp": [start + timedelta(seconds=rng.random() * span) for _ in range(rows)],
        }
    )
    t = time.perf_counter()
    result = features.historical(entities, "churn_v1")
    elapsed = time.perf_counter() - t
    assert len(result) == rows
    return elapsed


def drop_project(features: Any) -> None:
    store = features.store
    store._get_provider().teardown_infra(store.project, store.list_feature_views(), store.list_entities())
    store.delete_project(store.project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--entity-rows", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--baseline-rev", default=None, help="also serve feature_store/ as of this git revision, requests alternating"
    )
    args = parser.parse_args()

    from feature_store.store import Features

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="feature-bench-"))
    lake = Lake(workdir / f"lake-{args.customers}")
    t = time.perf_counter()
    write_lake(lake, args.customers, args.seed)
    print(f"lake of {args.customers:,} customers written in {time.perf_counter() - t:.1f} s: {lake.root}", flush=True)
    ids = customer_ids(args.customers)
    rng = random.Random(args.seed)
    latency_rows: list[tuple[str, str, list[int]]] = []
    materialise_rows: list[tuple[str, dict[str, float]]] = []
    hist_seconds = None
    for store in args.stores.split(","):
        project = f"bench_{uuid.uuid4().hex[:8]}"
        features = Features(settings_for(lake, store, project))
        try:
            t = time.perf_counter()
            features.apply()
            print(f"{store}: applied in {time.perf_counter() - t:.1f} s", flush=True)
            figures = materialise(lake, store, project)
            materialise_rows.append((store, figures))
            print(f"{store}: materialised {figures}", flush=True)
            features.store.refresh_registry()
            labels = {SERVICE: "Feast SDK get_online_features"}
            if store == "redis":
                apply_two_view_layout(features)
                labels[TWO_VIEW_SERVICE] = "Feast SDK, same 28 features from 2 views (layout experiment)"
            sdk = sdk_reads(features, ids, args.requests, rng, list(labels))
            latency_rows += [(store, label, samples) for label, samples in zip(labels.values(), sdk, strict=True)]
            refreshed = reads_after_refresh(features, ids, 100, rng)
            latency_rows.append((store, "Feast SDK, first read after a registry refresh (100 reads)", refreshed))
            print(f"{store}: SDK done", flush=True)
            baseline = (args.baseline_rev, baseline_source(args.baseline_rev, workdir)) if args.baseline_rev else None
            api = api_reads(lake, store, project, ids, args.requests, rng, baseline)
            latency_rows += [(store, label, samples) for label, samples in api.items()]
            print(f"{store}: API done", flush=True)
            if store == "redis":
                floors = redis_floor(project, ids, args.requests, rng)
            else:
                views = sorted({p.name for p in features.store.get_feature_service(SERVICE).feature_view_projections})
                path = Path(features.store.config.online_store.path)
                floors = sqlite_floor(path, project, views, ids, args.requests, rng)
            latency_rows += [(store, f"floor: {label}", samples) for label, samples in floors.items()]
            if hist_seconds is None:
                hist_seconds = historical(features, ids, args.entity_rows, rng)
                print(f"historical: {hist_seconds:.1f} s", flush=True)
        finally:
            drop_project(features)

    print(f"\n### {args.customers:,} customers, {args.requests:,} requests per row, one customer per request\n")
    print("| store | read | p50 ms | p99 ms | mean ms |")
    print("|---|---|---:|---:|---:|")
    for store, label, samples in latency_rows:
        p50, p99, mean = percentiles(samples)
        print(f"| {store} | {label} | {p50:.3f} | {p99:.3f} | {mean:.3f} |")
    print("\n| store | materialise: process wall s | Feast materialise s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for store, f in materialise_rows:
        print(f"| {store} | {f['wall_s']:.1f} | {f['materialise_s']:.1f} | {f['peak_rss_mb']:.0f} |")
    if hist_seconds is not None:
        print(f"\nHistorical retrieval, churn_v1, {args.entity_rows:,} entity rows: {hist_seconds:.1f} s")


if __name__ == "__main__":
    main()
