"""The order dbt's threads take a build's nodes in: the longest remaining path first (marts/schedule.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from types import SimpleNamespace

import networkx as nx
import pytest
from dbt.contracts.graph.manifest import Manifest
from dbt.graph.queue import GraphQueue
from dbt.graph.thread_pool import DbtThreadPool

from cdp.lake import Lake
from marts.schedule import (
    NodeSeconds,
    longest_path_first,
    longest_path_scores,
    read_node_seconds,
    record_node_seconds,
)


def _graph() -> nx.DiGraph:
    """A shallow node beside a deep chain, as customers beside customer_clv -> customer_traits -> audiences."""
    graph = nx.DiGraph()
    graph.add_edges_from([("source", "shallow"), ("source", "clv"), ("clv", "traits"), ("traits", "audiences")])
    graph.add_node("alone")
    return graph


SECONDS = {"source": 1.0, "shallow": 5.0, "clv": 3.0, "traits": 8.0, "audiences": 5.0, "alone": 2.0}


def test_the_node_the_most_remaining_work_waits_on_scores_lowest() -> None:
    scores = longest_path_scores(_graph(), SECONDS)

    assert scores == {"source": -17.0, "clv": -16.0, "traits": -13.0, "shallow": -5.0, "audiences": -5.0,
                      "alone": -2.0}  # fmt: skip
    # the chain goes before the longer single node: 16 s wait on clv, 5 s on shallow
    assert scores["clv"] < scores["shallow"]


def test_a_node_with_no_recorded_time_counts_as_one_second() -> None:
    scores = longest_path_scores(_graph(), {})

    assert scores["source"] == -4.0  # source, clv, traits, audiences
    assert scores["clv"] < scores["shallow"] < 0


def _taken_order(queue: GraphQueue) -> list[str]:
    """The order the queue hands out the nodes that are ready now (its priority queue, as dbt's threads get it)."""
    return [queue.inner.get()[1] for _ in range(queue.inner.qsize())]


def test_dbt_s_queue_takes_the_longest_path_first_inside_the_block_and_its_own_order_after() -> None:
    graph = _graph()
    graph.remove_node("source")  # clv, shallow and alone are ready at once
    with longest_path_first(NodeSeconds(incremental=SECONDS)):
        ordered = GraphQueue(graph.copy(), Manifest(), set(graph))
    after = GraphQueue(graph.copy(), Manifest(), set(graph))

    assert _taken_order(ordered) == ["clv", "shallow", "alone"]
    # dbt's own order: the depth in the graph, ties by name
    assert _taken_order(after) == ["alone", "clv", "shallow"]


class _NodesByName(Manifest):
    """A manifest whose nodes are their names: GraphQueue.get hands out ``manifest.expect(unique_id)``."""

    def expect(self, unique_id: str) -> SimpleNamespace:  # type: ignore[override]
        return SimpleNamespace(unique_id=unique_id)


def test_a_node_is_taken_only_when_a_thread_is_free_so_a_later_ready_long_chain_goes_first() -> None:
    """dbt's loop takes nodes as fast as get() returns them and hands them to its first-in, first-out pool."""
    graph = nx.DiGraph([("first", "long")])
    graph.add_nodes_from(["second", "third", "fourth"])
    seconds = {"first": 1.0, "long": 10.0, "second": 3.0, "third": 2.0, "fourth": 2.0}
    taken: list[str] = []
    with longest_path_first(NodeSeconds(incremental=seconds)):
        queue = GraphQueue(graph, _NodesByName(), set(graph))
        DbtThreadPool(2).close()  # dbt makes its pool (its thread count) before it takes the first node
        taken += [queue.get().unique_id, queue.get().unique_id]  # both threads busy
        waiting = ThreadPoolExecutor(1).submit(lambda: queue.get().unique_id)
        with pytest.raises(FutureTimeout):
            waiting.result(timeout=0.3)  # no free thread: get() waits
        queue.mark_done("first")  # a thread frees, and "long" is ready now
        taken.append(waiting.result(timeout=5))

    assert taken == ["first", "second", "long"]  # not "third", ready since the start


def test_node_seconds_are_kept_per_kind_of_build_from_build_to_build(tmp_path) -> None:
    lake = Lake(tmp_path / "lake")
    assert read_node_seconds(lake) == NodeSeconds()

    record_node_seconds(lake, [("model.cdp.a", "success", 1.23456), ("model.cdp.b", "success", 20.0)])  # first
    record_node_seconds(lake, [("model.cdp.b", "success", 0.5), ("model.cdp.c", "success", 3.0)])  # a left out
    record_node_seconds(lake, [("model.cdp.a", "skipped", 0.0)])  # a's parent failed: a did not run

    assert read_node_seconds(lake) == NodeSeconds(
        from_scratch={"model.cdp.a": 1.235, "model.cdp.b": 20.0, "model.cdp.c": 3.0},  # c's first build
        incremental={"model.cdp.b": 0.5},
    )
    record_node_seconds(lake, [("model.cdp.b", "success", 25.0)], full_refresh=True)
    assert read_node_seconds(lake).from_scratch["model.cdp.b"] == 25.0
    assert read_node_seconds(lake).incremental == {"model.cdp.b": 0.5}


def _manifest(**materializations: dict) -> Manifest:
    """A manifest of models named by their configs (materialized and the delta materialization's keys)."""
    from dbt.artifacts.resources import NodeConfig

    nodes = {name: SimpleNamespace(config=NodeConfig.from_dict(config)) for name, config in materializations.items()}
    return Manifest(nodes=nodes)  # type: ignore[arg-type]


def test_a_build_on_a_built_lake_orders_incremental_models_by_their_incremental_times_only() -> None:
    """A full build's time of an incremental model is its whole input; on a built lake it reads only new rows."""
    manifest = _manifest(
        events={"materialized": "incremental"},
        orders={"materialized": "delta", "delta_mode": "merge"},
        traits={"materialized": "delta", "delta_mode": "overwrite"},
        journeys={"materialized": "incremental"},
    )
    times = NodeSeconds(
        from_scratch={"events": 90.0, "orders": 40.0, "traits": 8.0, "journeys": 30.0, "test.not_null": 2.0},
        incremental={"journeys": 1.5},
    )

    # the events and orders are unknown (1 s) until a build on a built lake times them; a table is rebuilt whole
    assert times.for_build(manifest, full_refresh=False) == {"traits": 8.0, "journeys": 1.5, "test.not_null": 2.0}
    assert times.for_build(manifest, full_refresh=True) == times.from_scratch


@pytest.mark.parametrize("contents", ["", "not json", "[1, 2]", '{"from_scratch": {"model.cdp.a": "slow"}}'])
def test_an_unreadable_record_orders_by_chain_length(tmp_path, contents: str) -> None:
    lake = Lake(tmp_path / "lake")
    lake.marts_dir().mkdir(parents=True)
    (lake.marts_dir() / "node_seconds.json").write_text(contents)

    assert read_node_seconds(lake) == NodeSeconds()


def test_a_record_from_before_the_kinds_of_build_counts_as_times_from_scratch(tmp_path) -> None:
    """A lake built before: its nodes' last times order the next build, which records them as incremental."""
    lake = Lake(tmp_path / "lake")
    lake.marts_dir().mkdir(parents=True)
    (lake.marts_dir() / "node_seconds.json").write_text('{"model.cdp.a": 1.5, "model.cdp.b": "slow"}')

    assert read_node_seconds(lake) == NodeSeconds(from_scratch={"model.cdp.a": 1.5})
    record_node_seconds(lake, [("model.cdp.a", "success", 0.2)])
    assert read_node_seconds(lake) == NodeSeconds(from_scratch={"model.cdp.a": 1.5}, incremental={"model.cdp.a": 0.2})


def test_a_full_refresh_orders_by_the_times_from_scratch_and_other_builds_by_the_incremental_ones() -> None:
    from argparse import Namespace

    from dbt.flags import get_flags, set_flags

    graph = nx.DiGraph()
    graph.add_nodes_from(["a", "b"])
    times = NodeSeconds(from_scratch={"a": 10.0, "b": 1.0}, incremental={"a": 1.0, "b": 10.0})
    saved = get_flags()
    try:
        for full_refresh, first in ((True, "a"), (False, "b")):
            set_flags(Namespace(FULL_REFRESH=full_refresh))  # as dbt sets them for an invocation
            with longest_path_first(times):
                queue = GraphQueue(graph.copy(), Manifest(), set(graph))
            assert _taken_order(queue)[0] == first
    finally:
        set_flags(saved)
