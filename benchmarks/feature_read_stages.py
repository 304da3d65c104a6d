"""Where one online read's time goes in Feast 0.67: ``get_online_features(personalisation_v1).to_dict()`` for one
customer on Redis, split into the steps Feast takes, beside the same features from 2 views and a bare HGETALL.

    .venv/bin/python benchmarks/feature_read_stages.py --customers 5000 --reads 3000

The steps mirror ``OnlineStore.get_online_features`` and ``RedisOnlineStore._read_features_per_fv`` (Feast's own
functions, called in the same order; the result is checked equal to ``get_online_features``). Each read runs the
8-view service, then the 2-view layout, then the HGETALL, for the same customer, so load hits all three alike. Prod
layout (Redis online store, SQL registry in Postgres ``test``); the project is deleted at the end. Prints Markdown
(microseconds).
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from feature_serving import (
    SERVICE,
    TWO_VIEW_SERVICE,
    _entity_key,
    apply_two_view_layout,
    customer_ids,
    drop_project,
    materialise,
    settings_for,
    write_lake,
)

from cdp.lake import Lake

STEPS = (
    "prepare entities: cached feature resolution, entity values to protobuf",
    "keys: entity key serialised, field names hashed (per view)",
    "Redis: one pipeline, an HMGET per view",
    "decode: a protobuf Value per field",
    "response: fill a FeatureVector per feature (per view)",
    "feature types, OnlineResponse",
    "to_dict(): protobuf Values to Python",
)


def staged_read(store: Any, service: Any, customer_id: str) -> tuple[dict[str, Any], list[int]]:
    """One read through Feast's own steps; returns the dict and the nanoseconds of each step."""
    from feast import utils
    from feast.infra.online_stores.redis import _versioned_fv_name
    from feast.online_response import OnlineResponse

    online = store._get_provider().online_store
    config = store.config
    marks = [time.perf_counter_ns()]
    (join_key_values, grouped, entity_map, _, _, row_names, response) = (
        utils._prepare_entities_to_read_from_online_store(
            registry=store.registry,
            project=store.project,
            features=service,
            entity_values={"customer_id": [customer_id]},
            full_feature_names=False,
            native_entity_values=True,
        )
    )
    marks.append(time.perf_counter_ns())
    work = []
    for table, requested in grouped:
        values, indexes, length = utils._get_unique_entities(table, join_key_values, entity_map)
        view = _versioned_fv_name(table, config)
        keys = online._generate_redis_keys_for_entities(config, utils._get_entity_key_protos(values))
        names, fields = online._generate_hset_keys_for_features(table, requested, fv_name_override=view)
        work.append((table, names, view, fields, keys, indexes, length))
    marks.append(time.perf_counter_ns())
    replies = online._read_hash_fields(config, [(key, w[3]) for w in work for key in w[4]])
    marks.append(time.perf_counter_ns())
    rows = [
        online._convert_redis_values_to_protobuf([reply], w[2], w[1]) for reply, w in zip(replies, work, strict=True)
    ]
    marks.append(time.perf_counter_ns())
    for w, read in zip(work, rows, strict=True):
        utils._populate_response_from_feature_data(w[1], read, w[5], response, False, w[0], w[6], False)
    marks.append(time.perf_counter_ns())
    types = online._build_feature_types(grouped)
    utils._drop_unneeded_columns(response, row_names)
    result = OnlineResponse(response, feature_types=types)
    marks.append(time.perf_counter_ns())
    as_dict = result.to_dict()
    marks.append(time.perf_counter_ns())
    return as_dict, [b - a for a, b in itertools.pairwise(marks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import redis
    from feast.infra.online_stores.helpers import _redis_key

    from feature_store.store import Features

    lake = Lake(Path(tempfile.mkdtemp(prefix="feature-stages-")) / "lake")
    write_lake(lake, args.customers, args.seed)
    project = f"stages_{uuid.uuid4().hex[:8]}"
    features = Features(settings_for(lake, "redis", project))
    try:
        features.apply()
        loaded = materialise(lake, "redis", project)
        features.store.refresh_registry()
        extra_view_s = apply_two_view_layout(features)
        store = features.store
        services = {name: store.get_feature_service(name) for name in (SERVICE, TWO_VIEW_SERVICE)}
        ids, rng = customer_ids(args.customers), random.Random(args.seed)
        client = redis.Redis(host="127.0.0.1", port=6379)
        for service in services.values():  # the steps give Feast's answer
            expected = store.get_online_features(features=service, entity_rows=[{"customer_id": ids[1]}]).to_dict()
            assert staged_read(store, service, ids[1])[0] == expected
        steps: dict[str, list[list[int]]] = {name: [] for name in services}
        floor: list[int] = []
        for i in range(200 + args.reads):
            customer_id = rng.choice(ids)
            for name, service in services.items():
                _, took = staged_read(store, service, customer_id)
                if i >= 200:
                    steps[name].append(took)
            t = time.perf_counter_ns()
            client.hgetall(_redis_key(project, _entity_key(customer_id), 3))
            if i >= 200:
                floor.append(time.perf_counter_ns() - t)
    finally:
        drop_project(features)

    print(f"\n{args.customers:,} customers, {args.reads:,} reads, microseconds (p50 / mean)\n")
    print(f"| step | {SERVICE} (8 views) | {TWO_VIEW_SERVICE} (2 views) |")
    print("|---|---:|---:|")
    columns = {name: np.array(samples) / 1e3 for name, samples in steps.items()}
    for k, step in enumerate([*STEPS, "total"]):
        cells = []
        for us in columns.values():
            column = us.sum(axis=1) if step == "total" else us[:, k]
            cells.append(f"{np.percentile(column, 50):.0f} / {column.mean():.0f}")
        print(f"| {step} | {' | '.join(cells)} |")
    bare = np.array(floor) / 1e3
    print(f"| floor: HGETALL of the customer's hash | {np.percentile(bare, 50):.0f} / {bare.mean():.0f} | |")
    print(
        f"\nMaterialisation: the 9 views {loaded['materialise_s']:.1f} s (Feast's time, own process); the 2-view "
        f"layout's extra online view {extra_view_s:.1f} s more (in process)."
    )


if __name__ == "__main__":
    main()
