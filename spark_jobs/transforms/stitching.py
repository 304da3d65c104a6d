"""Deterministic stitching in priority order, with per-profile limits that refuse over-merging.

Identifier types are taken strongest first (customer_ref, crm_contact_id, loyalty_card, email, phone, device_id,
anonymous_id). Each identifier of the current type joins the components its records already belong to. When it
touches two or more components, it merges them, unless the merged profile would hold more distinct values of some
type than that type's ``max_per_profile`` (a family email seen on two shop accounts): then the identifier is
refused as a conflict, reported, and links nothing. A merge that only exceeds a limit through a chain of
individually acceptable identifiers is caught after the round's connected components and refused the same way.

The same limit check guards probabilistic links (:func:`merge_links`).

Frames: ``assigned`` is (node, id_type, component), the component of every identifier accepted so far;
``component`` is the smallest node id in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.transforms.components import Checkpoint, connected_components


@dataclass(frozen=True)
class StitchResult:
    assigned: DataFrame  # node, id_type, component
    conflicts: DataFrame  # node, id_type, reason
    rounds: int  # connected-component rounds summed over layers
    # record_key, node, id_type: each record's strongest identifier not refused, as best_identifiers gives it (the
    # driver path computes it from the rows it collected; None: the caller computes it)
    best: DataFrame | None = None


def _limits_exceeded(stats: DataFrame, limits: dict[str, int], key: str) -> DataFrame:
    """Keys whose summed per-type counts exceed a limit, with a readable reason: (key, reason)."""
    limit = F.create_map(*[x for t, n in limits.items() for x in (F.lit(t), F.lit(n))])
    over = stats.withColumn("_limit", limit[F.col("id_type")]).where(F.col("n") > F.col("_limit"))
    return over.groupBy(key).agg(
        F.concat(
            F.lit("merge refused: the profile would hold "),
            F.concat_ws(
                ", ",
                F.sort_array(F.collect_list(F.concat(F.col("n").cast("string"), F.lit(" "), F.col("id_type")))),
            ),
            F.lit(" values, above max_per_profile"),
        ).alias("reason")
    )


def stitch_identifiers(
    usable: DataFrame, types_in_order: list[str], limits: dict[str, int], checkpoint: Checkpoint
) -> StitchResult:
    """``usable``: (record_key, id_type, node) for identifiers that passed normalisation and the guards."""
    usable = checkpoint(usable.select("record_key", "id_type", "node").distinct(), "stitch-usable")
    assigned: DataFrame | None = None
    conflicts: DataFrame | None = None
    rounds = 0
    for id_type in types_in_order:
        layer = usable.where(F.col("id_type") == id_type).select("record_key", "node")
        nodes = layer.select("node").distinct()
        if nodes.limit(1).count() == 0:  # no usable identifier of this type (e.g. every email blocked)
            continue
        if assigned is None:
            touches = nodes.select("node", F.lit(None).cast("long").alias("component")).where(F.lit(False))
        else:
            others = (
                usable.where(F.col("id_type") != id_type)
                .join(assigned.select("node", "component"), "node")
                .select("record_key", "component")
            )
            touches = layer.join(others, "record_key").select("node", "component").distinct()
        # Two identifiers of this type on one record (an alias message's anonymousId and previousId) link directly.
        same_record = (
            layer.alias("a")
            .join(layer.alias("b"), "record_key")
            .where(F.col("a.node") < F.col("b.node"))
            .select(F.col("a.node").alias("src"), F.col("b.node").alias("dst"))
            .distinct()
        )
        stats = _stats(assigned)
        mapping, refused, layer_rounds = _merge(
            nodes, touches, same_record, stats, limits, id_type, checkpoint, f"stitch-{id_type}"
        )
        rounds += layer_rounds
        refused = refused.withColumn("id_type", F.lit(id_type))
        conflicts = refused if conflicts is None else conflicts.unionByName(refused)
        new_nodes = mapping.join(nodes, mapping.vertex == nodes.node, "left_semi").select(
            F.col("vertex").alias("node"), F.lit(id_type).alias("id_type"), "component"
        )
        if assigned is None:
            assigned = new_nodes
        else:
            relabel = mapping.select(F.col("vertex").alias("_old"), F.col("component").alias("_new"))
            assigned = (
                assigned.join(relabel, assigned.component == relabel._old, "left")
                .select("node", "id_type", F.coalesce("_new", "component").alias("component"))
                .unionByName(new_nodes)
            )
        assigned = checkpoint(assigned, f"stitch-assigned-{id_type}")
        conflicts = checkpoint(conflicts, f"stitch-conflicts-{id_type}")
    if assigned is None or conflicts is None:
        raise ValueError("no usable identifiers to stitch: every identifier was empty, invalid, blocked or shared")
    return StitchResult(assigned, conflicts, rounds)


def _stats(assigned: DataFrame | None) -> DataFrame | None:
    if assigned is None:
        return None
    return assigned.groupBy("component", "id_type").agg(F.count("*").alias("n"))


def _merge(
    nodes: DataFrame,
    touches: DataFrame,
    same_record: DataFrame,
    stats: DataFrame | None,
    limits: dict[str, int],
    id_type: str,
    checkpoint: Checkpoint,
    name: str,
) -> tuple[DataFrame, DataFrame, int]:
    """Join this layer's identifiers to the components they touch. Returns (vertex -> component for new nodes and
    touched old components, refused nodes with reasons, rounds)."""
    touches = checkpoint(touches, f"{name}-touches")
    # 1. A node that alone would merge components beyond a limit is refused.
    bridging = touches.groupBy("node").agg(F.count("*").alias("_touched")).where(F.col("_touched") >= 2)
    if bridging.limit(1).count() == 0:
        # Built from a schema: Sail fails to write the empty result of joins over empty inputs.
        refused = touches.sparkSession.createDataFrame([], "node long, reason string")
    else:
        refused = _refuse(bridging.select("node"), touches, stats, limits, key="node", own_type=id_type)
        refused = checkpoint(refused, f"{name}-refused-1")
    total_rounds = 0
    for attempt in (1, 2):
        accepted_touches = touches.join(refused, "node", "left_anti")
        accepted_nodes = nodes.join(refused, "node", "left_anti")
        pairs = same_record.join(refused.withColumnRenamed("node", "src"), "src", "left_anti").join(
            refused.withColumnRenamed("node", "dst"), "dst", "left_anti"
        )
        edges = (
            accepted_nodes.select(F.col("node").alias("src"), F.col("node").alias("dst"))
            .unionByName(accepted_touches.select(F.col("node").alias("src"), F.col("component").alias("dst")))
            .unionByName(pairs.select("src", "dst"))
        )
        mapping, rounds = connected_components(edges, checkpoint, name=f"{name}-cc{attempt}")
        total_rounds += rounds
        # 2. A chain of acceptable nodes may still merge beyond a limit: refuse the bridges of such components.
        merged_old = accepted_touches.join(
            mapping.withColumnRenamed("vertex", "node").withColumnRenamed("component", "new"), "node"
        ).select("node", "component", "new")
        node_new = mapping.join(accepted_nodes, mapping.vertex == accepted_nodes.node, "left_semi").select(
            F.col("vertex").alias("node"), F.col("component").alias("new")
        )
        merges = merged_old.select("new", "component").distinct().groupBy("new").agg(F.count("*").alias("_olds"))
        merges = merges.where(F.col("_olds") >= 2)
        if merges.limit(1).count() == 0:
            return mapping, refused, total_rounds
        parts = merged_old.select("new", "component").distinct()
        old_stats = (
            parts.join(stats, "component").groupBy("new", "id_type").agg(F.sum("n").alias("n"))
            if stats is not None
            else None
        )
        layer_stats = node_new.join(merges, "new", "left_semi").groupBy("new").agg(F.count("*").alias("n"))
        layer_stats = layer_stats.select("new", F.lit(id_type).alias("id_type"), "n")
        combined = layer_stats if old_stats is None else old_stats.unionByName(layer_stats)
        combined = combined.join(merges, "new", "left_semi").groupBy("new", "id_type").agg(F.sum("n").alias("n"))
        violating = _limits_exceeded(combined, limits, "new")
        # After attempt 1 refused every bridge of a violating component, no merge beyond a limit remains.
        if violating.limit(1).count() == 0 or attempt == 2:
            return mapping, refused, total_rounds
        touched_count = touches.groupBy("node").agg(F.count("*").alias("_touched"))
        in_pairs = same_record.select(F.col("src").alias("node")).unionByName(
            same_record.select(F.col("dst").alias("node"))
        )
        bridges = (
            node_new.join(violating, "new")
            .join(touched_count, "node", "left")
            .join(in_pairs.distinct().withColumn("_paired", F.lit(True)), "node", "left")
            .where((F.coalesce("_touched", F.lit(0)) >= 2) | F.col("_paired").isNotNull())
            .select("node", "reason")
        )
        refused = checkpoint(refused.unionByName(bridges).dropDuplicates(["node"]), f"{name}-refused-2")
    raise AssertionError("unreachable")


def _refuse(
    candidates: DataFrame,
    touches: DataFrame,
    stats: DataFrame | None,
    limits: dict[str, int],
    *,
    key: str,
    own_type: str | None = None,
) -> DataFrame:
    """(key, reason) for candidate links (bridging nodes, probabilistic pairs) whose touched components together
    exceed a limit; a bridging node also counts itself as one value of ``own_type``."""
    parts = []
    if own_type is not None:
        parts.append(candidates.select(key, F.lit(own_type).alias("id_type"), F.lit(1).cast("long").alias("n")))
    if stats is not None:
        parts.append(touches.join(candidates, key, "left_semi").join(stats, "component").select(key, "id_type", "n"))
    combined = reduce(DataFrame.unionByName, parts).groupBy(key, "id_type").agg(F.sum("n").alias("n"))
    return _limits_exceeded(combined, limits, key)


def merge_links(
    links: DataFrame, assigned: DataFrame, limits: dict[str, int], checkpoint: Checkpoint
) -> tuple[DataFrame, DataFrame, int]:
    """Merge components through links between them (probabilistic matches), under the same limits.

    ``links``: (link_id, left_component, right_component). Returns (assigned relabelled, refused links with
    reasons, rounds)."""
    stats = _stats(assigned)
    assert stats is not None
    touches = links.select("link_id", F.col("left_component").alias("component")).unionByName(
        links.select("link_id", F.col("right_component").alias("component"))
    )
    refused = _refuse(links.select("link_id"), touches, stats, limits, key="link_id")
    total = 0
    for attempt in (1, 2):
        accepted = links.join(refused, "link_id", "left_anti")
        edges = accepted.select(F.col("left_component").alias("src"), F.col("right_component").alias("dst"))
        mapping, rounds = connected_components(edges, checkpoint, name=f"links-cc{attempt}")
        total += rounds
        sizes = (
            mapping.join(stats.withColumnRenamed("component", "vertex"), "vertex")
            .groupBy("component", "id_type")
            .agg(F.sum("n").alias("n"))
        )
        violating = _limits_exceeded(sizes, limits, "component")
        if attempt == 2 or violating.limit(1).count() == 0:
            break
        bad = accepted.join(mapping.withColumnRenamed("vertex", "left_component"), "left_component").join(
            violating, "component"
        )
        refused = checkpoint(
            refused.unionByName(bad.select("link_id", "reason")).dropDuplicates(["link_id"]), "links-refused"
        )
    relabel = mapping.select(F.col("vertex").alias("_old"), F.col("component").alias("_new"))
    relabelled = assigned.join(relabel, assigned.component == relabel._old, "left").select(
        "node", "id_type", F.coalesce("_new", "component").alias("component")
    )
    return relabelled, refused, total
