"""The order in which dbt's threads take the nodes of a build: the longest remaining path first.

dbt orders its queue by depth (a node's topological generation) and nothing else, so a thread free at a given moment
takes a shallow node that nothing waits on before the deep chain the build's end waits on. In the 1M next-day build
(two threads) that left the serial tail ``customer_clv -> customer_traits -> audiences`` (17 s) to start after the
other nodes, with one thread idle. In this order, steady 1M next-day builds took 48.0 s against 54.7 s at the
median of six pairs, and full builds 7-9% less (BENCHMARKS.md).

This module gives each node the priority list scheduling gives it on a machine of a few workers: the time of the
longest path from the node to the end of the build (the node included), weighted by each node's seconds in the last
build of the same kind that ran it (from scratch, or incremental on what earlier builds left: :class:`NodeSeconds`),
kept in ``<lake>/_marts/node_seconds.json``. A node with no recorded time counts as one second, so a first build
orders by the longest chain of nodes. Only the order changes: dbt still starts a node once its
parents are done, and runs the same nodes.

dbt has no setting for the order: :func:`longest_path_first` replaces, for the invocations in its block, dbt's
private scoring hook ``GraphQueue._get_scores`` (a lower score is taken first) and makes ``GraphQueue.get`` wait for
a free thread (dbt's loop would otherwise hand every ready node to its first-in, first-out pool at once), and puts
dbt's own back after.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from cdp.lake import Lake

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

NODE_SECONDS_FILE = "node_seconds.json"  # per kind of build, dbt unique_id -> seconds in the last such build
UNKNOWN_NODE_SECONDS = 1.0
_patch_lock = threading.RLock()  # one invocation's scores at a time: the hook is a class attribute


@dataclass
class NodeSeconds:
    """Each node's seconds in the last build that ran it, kept apart for the two kinds of build: from scratch (the
    node's first build on the lake, or ``--full-refresh``) and on what earlier builds left. An incremental model
    reads its whole input from scratch and only the new rows after, so a full build's times would order a next-day
    build by work it no longer does (the first next-day build after a full one did)."""

    from_scratch: dict[str, float] = field(default_factory=dict)
    incremental: dict[str, float] = field(default_factory=dict)

    def __contains__(self, node: str) -> bool:
        return node in self.from_scratch or node in self.incremental

    def for_build(self, manifest: Manifest, *, full_refresh: bool) -> dict[str, float]:
        """The seconds to order a build by. From scratch: the times from scratch, else the others. Otherwise the
        incremental times, else, for a node that rebuilds its whole table every time, its time from scratch; an
        incremental node never timed on a built lake counts as unknown (its time from scratch says little)."""
        if full_refresh:
            return {**self.incremental, **self.from_scratch}
        whole = {node: s for node, s in self.from_scratch.items() if not reads_only_new_rows(manifest, node)}
        return {**whole, **self.incremental}


def reads_only_new_rows(manifest: Manifest, node: str) -> bool:
    """Whether the node, on a built lake, reads only its new rows: dbt's incremental models and the delta
    materialization's merged marts (dbt_project/macros/materializations/delta.sql)."""
    config = getattr(manifest.nodes.get(node), "config", None)
    return config is not None and (config.materialized == "incremental" or config.get("delta_mode") == "merge")


def node_seconds_path(lake: Lake) -> Path:
    return lake.marts_dir() / NODE_SECONDS_FILE


def read_node_seconds(lake: Lake) -> NodeSeconds:
    """The recorded seconds per node; none when the file is missing or unreadable (the order is then by the
    longest chain of nodes)."""
    try:
        raw = json.loads(node_seconds_path(lake).read_text())
    except (OSError, ValueError):
        return NodeSeconds()
    if not isinstance(raw, dict):
        return NodeSeconds()

    def times(kind: object) -> dict[str, float]:
        if not isinstance(kind, dict):
            return {}
        return {str(node): float(seconds) for node, seconds in kind.items() if isinstance(seconds, int | float)}

    if "from_scratch" not in raw and "incremental" not in raw:
        # the file before its kinds of build: each node's last time; its next build then records incremental ones
        return NodeSeconds(from_scratch=times(raw))
    return NodeSeconds(times(raw.get("from_scratch")), times(raw.get("incremental")))


def record_node_seconds(lake: Lake, results: Iterable[tuple[str, str, float]], *, full_refresh: bool = False) -> None:
    """Keep each node's seconds from this build's ``(unique_id, status, seconds)``, as a time from scratch when the
    build was a ``full_refresh`` or the node has none recorded yet (its first build on this lake), else as an
    incremental time; nodes it did not run (skipped after a failure) keep theirs."""
    seconds = read_node_seconds(lake)
    for node, status, elapsed in results:
        if status == "skipped":
            continue
        kind = seconds.from_scratch if full_refresh or node not in seconds else seconds.incremental
        kind[node] = round(elapsed, 3)
    path = node_seconds_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(seconds), indent=1, sort_keys=True))
    tmp.replace(path)


def longest_path_scores(graph: nx.DiGraph, seconds: Mapping[str, float]) -> dict[str, float]:
    """Per node, minus the seconds of the longest path from it to a node nothing depends on (itself included):
    dbt takes the lowest score first, so the node the most remaining work waits on goes first."""
    remaining: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        after = max((remaining[child] for child in graph.successors(node)), default=0.0)
        remaining[node] = seconds.get(node, UNKNOWN_NODE_SECONDS) + after
    return {node: -length for node, length in remaining.items()}


@contextmanager
def longest_path_first(times: NodeSeconds) -> Iterator[None]:
    """dbt invocations in this block order their queue by :func:`longest_path_scores` with the ``times`` for their
    kind of build (:meth:`NodeSeconds.for_build`), and take a node off it only when one of their threads is free.

    dbt's main loop hands every node that is ready to its thread pool at once, and the pool's own queue is first in,
    first out: a score would order only the nodes that become ready at the same moment, and a node of the long chain
    that is ready a moment later would wait behind every node handed over before it. Taking a node only when a
    thread is free lets each free thread take the best node ready then."""
    from dbt.flags import get_flags
    from dbt.graph.queue import GraphQueue
    from dbt.graph.thread_pool import DbtThreadPool

    threads: list[int] = []  # the thread count of the invocation's pool, once dbt made it

    def scores(queue: GraphQueue, graph: nx.DiGraph) -> dict[str, float]:
        full_refresh = bool(getattr(get_flags(), "FULL_REFRESH", False))  # the invocation's flags
        return longest_path_scores(graph, times.for_build(queue.manifest, full_refresh=full_refresh))

    def make_pool(pool: DbtThreadPool, *args: Any, **kwargs: Any) -> None:
        dbt_pool_init(pool, *args, **kwargs)
        threads.append(pool.max_threads)

    def get(queue: GraphQueue, block: bool = True, timeout: float | None = None) -> Any:
        with queue.some_task_done:  # dbt's lock; mark_done notifies it when a node ends
            while threads and len(queue.in_progress) >= threads[-1]:
                queue.some_task_done.wait()
        return dbt_get(queue, block, timeout)

    with _patch_lock:
        dbt_scores, dbt_get = GraphQueue.__dict__["_get_scores"], GraphQueue.__dict__["get"]
        dbt_pool_init = DbtThreadPool.__dict__["__init__"]
        GraphQueue._get_scores = scores  # type: ignore[method-assign,assignment]
        GraphQueue.get = get  # type: ignore[method-assign,assignment]
        DbtThreadPool.__init__ = make_pool  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            GraphQueue._get_scores = dbt_scores  # type: ignore[method-assign]
            GraphQueue.get = dbt_get  # type: ignore[method-assign]
            DbtThreadPool.__init__ = dbt_pool_init  # type: ignore[method-assign]


def build_order(lake: Lake, *, longest_path: bool) -> AbstractContextManager[None]:
    """The node order of a dbt invocation on ``lake``: :func:`longest_path_first` with the lake's recorded node times,
    or dbt's own order when ``longest_path`` is False (settings.build_order_by_longest_path)."""
    return longest_path_first(read_node_seconds(lake)) if longest_path else nullcontext()


def dbt_cli() -> None:
    """``cdp-dbt``: dbt's own command line, ordered as ``cdp build``'s invocations are (:func:`build_order`) with the
    node times of the lake at ``CDP_LAKE_ROOT``. The Dagster assets run dbt through it; the caller records the
    nodes' times (:func:`record_node_seconds`) from its run_results."""
    from dbt.cli.main import cli

    from cdp.settings import Settings

    lake_root = os.environ.get("CDP_LAKE_ROOT")
    longest_path = bool(lake_root) and Settings().build_order_by_longest_path
    with build_order(Lake(Path(lake_root or ".")), longest_path=longest_path):
        cli()
