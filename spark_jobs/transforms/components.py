"""Connected components in the DataFrame API: min-label propagation with pointer jumping.

Every vertex starts with its own id as label. Each round a vertex takes the smallest label among itself and its
neighbours, then jumps to its label's label (which halves the distance to the root on long chains), so a chain of
n vertices converges in O(log n) rounds instead of n. The loop stops when no label changed, and fails loudly after
``max_iterations``. The labels are checkpointed every round (``checkpoint`` writes and re-reads them) because a
lazily growing plan would otherwise be re-computed from the start each round.

The component id is the smallest vertex id in the component: deterministic for a given graph.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

Checkpoint = Callable[[DataFrame, str], DataFrame]


class ComponentsDidNotConverge(RuntimeError):
    pass


def connected_components(
    edges: DataFrame, checkpoint: Checkpoint, *, max_iterations: int = 50, name: str = "components"
) -> tuple[DataFrame, int]:
    """``edges`` (src bigint, dst bigint; self-loops add isolated vertices) -> ((vertex, component), rounds)."""
    both = edges.select("src", "dst").unionByName(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
    # Vertices with their smallest neighbour: the first round's labels, one shuffle for everything.
    labels = checkpoint(both.groupBy(F.col("src").alias("vertex")).agg(F.min("dst").alias("label")), f"{name}-0")
    labels = checkpoint(labels.withColumn("label", F.least("vertex", "label")).select("vertex", "label"), f"{name}-0b")
    adjacency = checkpoint(both.where(F.col("src") != F.col("dst")).distinct(), f"{name}-edges")
    for round_number in range(1, max_iterations + 1):
        # The smallest label among a vertex's neighbours ...
        neighbour_min = (
            adjacency.join(labels.withColumnRenamed("vertex", "dst"), "dst")
            .groupBy(F.col("src").alias("vertex"))
            .agg(F.min("label").alias("neighbour_label"))
        )
        proposed = labels.join(neighbour_min, "vertex", "left").select(
            "vertex", F.least("label", F.coalesce("neighbour_label", "label")).alias("label")
        )
        # ... then pointer jumping: take the label of your label.
        parent = proposed.select(F.col("vertex").alias("label"), F.col("label").alias("grand"))
        jumped = proposed.join(parent, "label", "left").select(
            "vertex", F.least("label", F.coalesce("grand", "label")).alias("label")
        )
        updated = checkpoint(jumped, f"{name}-{round_number}")
        changed = (
            updated.join(labels.withColumnRenamed("label", "previous"), "vertex")
            .where(F.col("label") != F.col("previous"))
            .limit(1)
            .count()
        )
        labels = updated
        if changed == 0:
            return labels.withColumnRenamed("label", "component"), round_number
    raise ComponentsDidNotConverge(
        f"connected components did not converge in {max_iterations} rounds; raise max_iterations or look for a "
        "degenerate graph (an identifier the degree guard should have stopped)"
    )
