"""Connected components: chains, stars, cycles, isolated vertices, and the iteration bound."""

from __future__ import annotations

import pytest

from spark_jobs.transforms.components import ComponentsDidNotConverge, connected_components

pytestmark = pytest.mark.transforms


def _components(spark, checkpoint, edges, **kwargs):
    df = spark.createDataFrame(edges, "src long, dst long")
    result, rounds = connected_components(df, checkpoint, **kwargs)
    return {r.vertex: r.component for r in result.collect()}, rounds


def test_chain_star_cycle_and_isolated_vertex(spark, checkpoint):
    chain = [(i, i + 1) for i in range(100, 140)]  # a long path: pointer jumping keeps rounds logarithmic
    star = [(500, 500 + i) for i in range(1, 20)]
    cycle = [(900, 901), (901, 902), (902, 903), (903, 900)]
    found, rounds = _components(spark, checkpoint, [*chain, *star, *cycle, (7, 7)])
    assert {found[v] for v in range(100, 141)} == {100}
    assert {found[v] for v in range(500, 520)} == {500}
    assert {found[v] for v in range(900, 904)} == {900}
    assert found[7] == 7
    assert len(found) == 41 + 20 + 4 + 1
    assert rounds < 15


def test_edges_in_any_direction_and_order(spark, checkpoint):
    found, _ = _components(spark, checkpoint, [(30, 10), (20, 30), (40, 50)])
    assert found == {10: 10, 20: 10, 30: 10, 40: 40, 50: 40}


def test_the_iteration_bound_fails_loudly(spark, checkpoint):
    chain = [(i, i + 1) for i in range(1, 200)]
    with pytest.raises(ComponentsDidNotConverge, match="did not converge in 1 rounds"):
        _components(spark, checkpoint, chain, max_iterations=1)
