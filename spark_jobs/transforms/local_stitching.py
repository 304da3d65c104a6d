"""Deterministic stitching of a small set of records on the driver: the rules of :mod:`.stitching`, in plain Python.

An incremental run resolves a scope of a few thousand records, where the Spark path's cost is not the data but the
number of small Spark actions (per identifier layer: a checkpoint, a limit check and connected-component rounds,
each one a query). Collected once, the same layers run here with a union-find in milliseconds, and the result is
written back as one frame. It must give exactly the Spark path's answer: the same accepted identifiers, the same
component ids (the smallest node id of a component, an earlier component counting as its id) and the same conflict
reasons; the tests run both on the same cases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa
from pyspark.sql import DataFrame

from spark_jobs.transforms.components import Checkpoint
from spark_jobs.transforms.stitching import StitchResult

Stats = dict[int, dict[str, int]]  # component -> id_type -> accepted identifiers of that type


def stitch_identifiers_locally(
    usable: DataFrame,
    types_in_order: list[str],
    limits: dict[str, int],
    checkpoint: Checkpoint,
    *,
    priorities: dict[str, int] | None = None,
) -> StitchResult:
    """:func:`spark_jobs.transforms.stitching.stitch_identifiers` for a scope small enough to collect. With
    ``priorities`` (id_type -> rank), also each record's best identifier (``StitchResult.best``) from the same rows."""
    # Arrow, not collect(): building a Row object per identifier cost 4x the transfer (0.8 against 0.2 CPU s for
    # the 155,000 usable identifiers of a 70,000-record scope).
    table = usable.select("record_key", "id_type", "node").toArrow()
    columns = [table.column(c).to_pylist() for c in ("record_key", "id_type", "node")]
    assigned, conflicts = stitch_rows(zip(*columns, strict=True), types_in_order, limits)
    spark = usable.sparkSession
    best = None
    if priorities is not None:
        best = checkpoint(
            spark.createDataFrame(best_rows(zip(*columns, strict=True), {n for n, _, _ in conflicts}, priorities)),
            "best",
        )
    if not assigned:
        raise ValueError("no usable identifiers to stitch: every identifier was empty, invalid, blocked or shared")
    nodes = sorted(assigned)
    accepted = pa.table(
        {
            "node": pa.array(nodes, pa.int64()),
            "id_type": pa.array([assigned[n][0] for n in nodes], pa.string()),
            "component": pa.array([assigned[n][1] for n in nodes], pa.int64()),
        }
    )
    assigned_df = checkpoint(spark.createDataFrame(accepted), "stitch-assigned")
    conflicts_df = checkpoint(
        spark.createDataFrame(sorted(conflicts), "node long, id_type string, reason string"), "stitch-conflicts"
    )
    return StitchResult(assigned_df, conflicts_df, 0, best)


def best_rows(rows: Iterable[tuple[str, str, int]], refused: set[int], priorities: dict[str, int]) -> pa.Table:
    """:func:`spark_jobs.transforms.identifiers.best_identifiers` of the usable (record_key, id_type, node) rows less
    the ``refused`` nodes: per record the row first by (rank of its type, node), a missing rank or node first as in
    Spark's ascending order. On the driver: the rows are here already, and Spark's window over them cost 0.35-0.5
    CPU s for the 155,000 rows of the 1M benchmark's scope."""
    best: dict[str, tuple[tuple[bool, int, bool, int], int, str]] = {}
    for record, id_type, node in rows:
        if node in refused:
            continue
        rank = priorities.get(id_type)
        key = (rank is not None, rank or 0, node is not None, node or 0)
        current = best.get(record)
        if current is None or key < current[0]:
            best[record] = (key, node, id_type)
    records = sorted(best)
    return pa.table(
        {
            "record_key": pa.array(records, pa.string()),
            "node": pa.array([best[r][1] for r in records], pa.int64()),
            "id_type": pa.array([best[r][2] for r in records], pa.string()),
        }
    )


def stitch_rows(
    rows: Iterable[tuple[str, str, int]], types_in_order: list[str], limits: dict[str, int]
) -> tuple[dict[int, tuple[str, int]], list[tuple[int, str, str]]]:
    """(record_key, id_type, node) rows -> ({node: (id_type, component)} of accepted identifiers, conflicts as
    (node, id_type, reason)).

    Between layers a component that merges into another is only relabelled (``renamed``, followed with path
    compression), and the per-component counts of accepted identifiers are kept up to date as components merge, so
    a layer costs its own records and nodes, not every identifier accepted so far."""
    by_type: dict[str, dict[str, set[int]]] = {}  # id_type -> record -> nodes
    for record, id_type, node in rows:
        layer = by_type.get(id_type)
        if layer is None:
            layer = by_type[id_type] = {}
        held = layer.get(record)
        if held is None:
            layer[record] = {node}
        else:
            held.add(node)
    component_of: dict[int, int] = {}  # accepted node -> its component when it was accepted
    type_of: dict[int, str] = {}  # accepted node -> its id_type
    record_accepted: dict[str, list[int]] = {}  # record -> its accepted nodes
    renamed: dict[int, int] = {}  # component -> the component it merged into (a later layer's)
    stats: Stats = {}  # current component -> id_type -> accepted identifiers of that type
    conflicts: list[tuple[int, str, str]] = []
    for id_type in types_in_order:
        layer = by_type.get(id_type)
        if not layer:
            continue
        nodes: set[int] = set()
        touches: dict[int, set[int]] = {}  # node -> earlier components its records belong to
        same_record: set[tuple[int, int]] = set()
        for record, held in layer.items():
            nodes |= held
            earlier = record_accepted.get(record)
            if earlier:
                components = set()
                for n in earlier:
                    c = component_of[n]
                    components.add(_find(renamed, c) if c in renamed else c)
                for node in held:
                    if node in touches:
                        touches[node] |= components
                    else:
                        touches[node] = set(components)
            if len(held) > 1:
                same_record.update((node, other) for node in held for other in held if node < other)
        mapping, refused = _merge(nodes, touches, same_record, stats, limits, id_type)
        conflicts.extend((node, id_type, reason) for node, reason in refused.items())
        for vertex, component in mapping.items():
            if component == vertex or vertex in nodes:
                continue
            # An earlier component joined by this layer: relabelled, its counts moved to the merged component.
            renamed[vertex] = component
            moved = stats.pop(vertex, None)
            if moved:
                into = stats.setdefault(component, {})
                for t, n in moved.items():
                    into[t] = into.get(t, 0) + n
        for record, held in layer.items():
            accepted = [node for node in held if node in mapping]
            if accepted:
                record_accepted.setdefault(record, []).extend(accepted)
        for node in nodes:
            joined = mapping.get(node)
            if joined is not None:
                component_of[node] = joined
                type_of[node] = id_type
                counts = stats.setdefault(joined, {})
                counts[id_type] = counts.get(id_type, 0) + 1
    assigned = {node: (type_of[node], _find(renamed, c)) for node, c in component_of.items()}
    return assigned, conflicts


def _merge(
    nodes: set[int],
    touches: dict[int, set[int]],
    same_record: set[tuple[int, int]],
    stats: Stats,
    limits: dict[str, int],
    id_type: str,
) -> tuple[dict[int, int], dict[int, str]]:
    """(vertex -> component for this layer's accepted nodes and the earlier components they touch, refused nodes
    with reasons), as :func:`spark_jobs.transforms.stitching._merge`."""
    # 1. A node that alone would merge components beyond a limit is refused.
    refused: dict[int, str] = {}
    for node, components in touches.items():
        if len(components) >= 2:
            counts: dict[str, int] = defaultdict(int, {id_type: 1})
            for component in components:
                for t, n in stats.get(component, {}).items():
                    counts[t] += n
            if (reason := _exceeded(counts, limits)) is not None:
                refused[node] = reason
    for attempt in (1, 2):
        parent: dict[int, int] = {}  # union-find forest
        accepted = nodes - refused.keys()
        for node in accepted:
            _union(parent, node, node)
            for component in touches.get(node, ()):
                _union(parent, node, component)
        for a, b in same_record:
            if a not in refused and b not in refused:
                _union(parent, a, b)
        mapping = {v: _find(parent, v) for v in parent}
        # 2. A chain of acceptable nodes may still merge beyond a limit: refuse the bridges of such components.
        olds: dict[int, set[int]] = defaultdict(set)  # new component -> earlier components merged into it
        for node in accepted:
            for component in touches.get(node, ()):
                olds[mapping[node]].add(component)
        merges = {new for new, merged in olds.items() if len(merged) >= 2}
        if not merges:
            return mapping, refused
        violating: dict[int, str] = {}
        layer_count: dict[int, int] = defaultdict(int)
        for node in accepted:
            if mapping[node] in merges:
                layer_count[mapping[node]] += 1
        for new in merges:
            counts = defaultdict(int)
            for component in olds[new]:
                for t, n in stats.get(component, {}).items():
                    counts[t] += n
            if layer_count[new]:
                counts[id_type] += layer_count[new]
            if (reason := _exceeded(counts, limits)) is not None:
                violating[new] = reason
        if not violating or attempt == 2:
            return mapping, refused
        paired = {n for pair in same_record for n in pair}
        for node in accepted:
            if mapping[node] in violating and (len(touches.get(node, ())) >= 2 or node in paired):
                refused[node] = violating[mapping[node]]
    raise AssertionError("unreachable")


def _find(parent: dict[int, int], x: int) -> int:
    """The root of ``x`` (itself when it has no parent), compressing the path."""
    root = x
    while parent.get(root, root) != root:
        root = parent[root]
    while parent.get(x, x) != root:  # path compression
        parent[x], x = root, parent[x]
    return root


def _union(parent: dict[int, int], a: int, b: int) -> None:
    for v in (a, b):
        parent.setdefault(v, v)
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:  # the smaller id becomes the root: a component's id is its smallest vertex, as on Spark
        parent[max(ra, rb)] = min(ra, rb)


def _exceeded(counts: dict[str, int], limits: dict[str, int]) -> str | None:
    """The reason :func:`spark_jobs.transforms.stitching._limits_exceeded` gives, or None within every limit."""
    over = sorted(f"{n} {t}" for t, n in counts.items() if t in limits and n > limits[t])
    if not over:
        return None
    return f"merge refused: the profile would hold {', '.join(over)} values, above max_per_profile"
