"""The scope of an incremental identity run: the new records and every earlier record whose outcome they can change.

Stitching, the limits and the degree guard only ever look at records connected through identifiers that are not
invalid or blocked, and the probabilistic links and stable ids only at whole earlier customers. So a scope closed
under "shares a stitchable identifier with" and "was in the same customer as" resolves exactly as a full run would
resolve those records (see :func:`scope_closure`), and every record outside it keeps its customer, as long as no
probabilistic link joins the scope to a record outside it. The caller brings those in up front: the earlier
profiles a new record's attributes share a blocking key with, and the earlier pairs that may link this run
(:func:`near_links`: refused by a limit, or scored just under the threshold).

Frames: ``incidence`` is the identity job's record x identifier frame (``spark_jobs.transforms.identifiers``);
``membership`` is (record_key, customer_id) of the previous identity map.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.rules import DegreeGuard
from spark_jobs.transforms.components import Checkpoint
from spark_jobs.transforms.identifiers import INCIDENCE_COLUMNS, shared_nodes

# Drop reasons a run decides from the whole graph (re-decided for the scope); the others (invalid, blocked) belong
# to the value alone and are kept from the previous run, so old identifiers are never normalised again.
SHARED_PREFIX = "shared identifier"
CONFLICT_PREFIX = "merge refused"
GRAPH_REASONS = (SHARED_PREFIX, CONFLICT_PREFIX)
# The closure's group of a record outside the previous membership (customer ids never start with it).
RECORD_GROUP = "record:"


class ScopeDidNotConverge(RuntimeError):
    pass


def previous_incidence(identifiers: DataFrame) -> DataFrame:
    """``silver.identity_identifiers`` of the previous run as incidence rows with only value-level drop reasons,
    plus ``_was_shared`` (the degree guard's reason, or null)."""
    graph_reason = F.lit(False)
    for prefix in GRAPH_REASONS:
        graph_reason = graph_reason | F.col("drop_reason").startswith(prefix)
    graph_reason = F.coalesce(graph_reason, F.lit(False))
    return identifiers.select(
        *INCIDENCE_COLUMNS,
        "value",
        "node",
        F.when(graph_reason, F.lit(None).cast("string")).otherwise(F.col("drop_reason")).alias("drop_reason"),
        F.when(F.col("drop_reason").startswith(SHARED_PREFIX), F.col("drop_reason")).alias("_was_shared"),
    )


def combine_incidence(previous: DataFrame, new: DataFrame) -> DataFrame:
    """Previous and newly normalised incidence rows, one row per (record, type, raw value) as a full run keeps it:
    the earliest source, id and time, and the value normalised under the smallest country hint."""
    rows = previous.drop("_was_shared").unionByName(new.select(*INCIDENCE_COLUMNS, "value", "node", "drop_reason"))
    key = ["record_key", "id_type", "raw_value"]
    # The first row in the order min() of a struct of these fields would pick (a missing hint sorts last, as a full
    # run's min(region_hint) does; a null field first). A window, not min(struct): Sail's struct min took 0.4 CPU s
    # for the 21,599 new rows of the 1M benchmark, the window 0.2.
    best_first = Window.partitionBy(*key).orderBy(
        F.coalesce("region_hint", F.lit("\uffff")),
        *[F.col(c).asc_nulls_first() for c in ("region_hint", "value", "node", "drop_reason")],
    )
    group = Window.partitionBy(*key)
    return (
        rows.select(
            *key,
            *[F.min(c).over(group).alias(c) for c in ("source", "source_record_id", "observed_at")],
            "region_hint",
            "value",
            "node",
            "drop_reason",
            F.row_number().over(best_first).alias("_rank"),
        )
        .where(F.col("_rank") == 1)
        .select(*INCIDENCE_COLUMNS, "value", "node", "drop_reason")
    )


def regard_touched(
    incidence: DataFrame,
    was_shared: DataFrame,
    touched_records: DataFrame,
    guard: DegreeGuard,
    checkpoint: Checkpoint | None = None,
    *,
    touched_rows: DataFrame | None = None,
    held_rows: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Re-apply the degree guard where new rows can change it: on every node of a record that gained rows (its
    record count or its linked identifiers may have grown). Other nodes keep the previous run's verdict.

    ``incidence``: all records, value-level drop reasons only; ``was_shared``: (node, _was_shared) of the previous
    run. Returns (every shared node with the guard's reason: (node, _shared), nodes whose verdict changed: (node));
    the caller adds the reasons to the incidence. ``checkpoint``: materialise the small intermediate frames once
    (the touched nodes' holders, the guard's verdict), so both results do not each re-scan the whole incidence.
    ``touched_rows``: the touched records' rows of ``incidence``, when the caller holds them apart (their nodes are
    then found without a scan of the whole incidence). ``held_rows``: (record_key, node) usable rows of ``incidence``
    holding at least every usable row of the touched records' nodes, when the caller has them from a scan of its own
    (the holders are then found among them). The changed nodes are always touched nodes."""
    keep = checkpoint or (lambda df, _name: df)
    usable = incidence.where(F.col("drop_reason").isNull()).select("record_key", "node")
    if touched_rows is None:
        touched_rows = incidence.join(touched_records, "record_key", "left_semi")
    touched_usable = touched_rows.where(F.col("drop_reason").isNull())
    touched_nodes = keep(touched_usable.select("node").distinct(), "touched")
    # Two scans of the incidence (the holders of the touched nodes, then every identifier of those holders: exact
    # degrees for the touched nodes, the only ones given a verdict); the holders are written, as three readers use
    # them. Cheaper than writing a narrow copy of the whole usable incidence for four readers (0.5-0.6 CPU s at 1M).
    holders = held_rows.select("record_key", "node") if held_rows is not None else usable
    held = keep(holders.join(touched_nodes, "node", "left_semi"), "held")
    around = usable.join(held.select("record_key").distinct(), "record_key", "left_semi")
    verdict = keep(shared_nodes(held, around, guard), "verdict")
    was_shared = keep(was_shared, "was-shared")
    kept = was_shared.join(touched_nodes, "node", "left_anti").select("node", F.col("_was_shared").alias("_shared"))
    shared = verdict.unionByName(kept)
    before = was_shared.join(touched_nodes, "node", "left_semi").select("node")
    after = verdict.select("node")
    changed = before.join(after, "node", "left_anti").unionByName(after.join(before, "node", "left_anti"))
    return shared, changed


def earlier_conflicts(identifiers: DataFrame) -> DataFrame:
    """(node) of ``silver.identity_identifiers`` that the previous run refused to stitch by a limit."""
    return identifiers.where(F.col("drop_reason").startswith(CONFLICT_PREFIX)).select("node")


def bridging_nodes(touched_rows: DataFrame, changed: DataFrame, conflicts: DataFrame) -> DataFrame:
    """(node): the identifiers that can join records of two earlier customers in an incremental run's scope.

    The previous run stitched every holder of a usable identifier into one customer unless the degree guard or a
    limit refused it. So an identifier joins two earlier customers only when it is a new record's or a record's
    that gained rows (``touched_rows``, incidence rows), its guard verdict changed (``changed``: (node), see
    :func:`regard_touched`) or a limit refused it last time (``conflicts``: (node), see :func:`earlier_conflicts`);
    the scope's closure needs no other (their records are one earlier customer's, which the membership joins)."""
    touched_nodes = touched_rows.where(F.col("drop_reason").isNull()).select("node")
    return touched_nodes.unionByName(changed.select("node")).unionByName(conflicts.select("node")).distinct()


def near_links(pairs: DataFrame, match_threshold: float, margin_bits: float) -> DataFrame:
    """(record_key, other_key), both ways: the earlier scored pairs (``silver.identity_match_pairs``) that did not
    link two customers but may this run: refused by a limit (re-decided over the scope), or with a match weight
    less than ``margin_bits`` under the threshold's (term frequencies move the weights as profiles come and go).
    Pairs that linked or were in one profile already are in one customer: the membership brings them in."""
    threshold_weight = math.log2(match_threshold / (1 - match_threshold))
    may_link = (
        ~F.col("linked")
        & ~F.col("same_profile_already")
        & (F.col("refused_reason").isNotNull() | (F.col("match_weight") >= threshold_weight - margin_bits))
    )
    near = pairs.where(may_link)
    return near.select(F.col("left_key").alias("record_key"), F.col("right_key").alias("other_key")).unionByName(
        near.select(F.col("right_key").alias("record_key"), F.col("left_key").alias("other_key"))
    )


def scope_closure(
    seeds: DataFrame,
    edges: DataFrame,
    membership: DataFrame,
    checkpoint: Checkpoint,
    *,
    links: DataFrame | None = None,
    max_rounds: int = 20,
    local_max_rows: int = 0,
) -> tuple[DataFrame, int]:
    """The smallest set of records holding ``seeds`` (record_key) that is closed under sharing a node of ``edges``
    (record_key, node: identifiers that may stitch, conflicts included), under belonging to the same previous
    customer (``membership``: record_key, customer_id and any other columns) and under ``links`` (record_key,
    other_key: pairs that may link, see :func:`near_links`). Returns ((record_key and membership's other columns:
    the scope's previous membership rows, null for a record outside it), rounds); raises when it has not settled
    after ``max_rounds`` (then a full run is the answer).

    Closed over groups, not records: a previous customer's records are one group and any other record a group of
    its own, so the large membership is read twice (the groups of the records named, and the scope's records at the
    end) instead of twice per round.

    ``local_max_rows``: when ``edges`` and ``links`` (written frames: counted cheaply) hold at most this many rows,
    their groups are collected once and the rounds run on the driver (:func:`close_groups`, the same rounds and
    answer) instead of as a checkpoint and a count per round; 0 always closes on Spark."""
    named = seeds.select("record_key").unionByName(edges.select("record_key"))
    if links is not None:
        named = named.unionByName(links.select("record_key"))
        named = named.unionByName(links.select(F.col("other_key").alias("record_key")))
    group = F.coalesce("customer_id", F.concat(F.lit(RECORD_GROUP), "record_key"))
    groups = checkpoint(
        named.distinct().join(membership, "record_key", "left").select("record_key", group.alias("group")),
        "scope-groups",
    )
    group_edges = edges.join(groups, "record_key").select("group", "node")
    group_links = None
    if links is not None:
        other = groups.select(F.col("record_key").alias("other_key"), F.col("group").alias("other_group"))
        group_links = links.join(groups, "record_key").join(other, "other_key").select("group", "other_group")
    seed_groups = seeds.join(groups, "record_key").select("group").distinct()
    # Each edge and link row names records of ``groups``: as many group rows as edges and links (both written).
    if local_max_rows > 0 and edges.count() + (links.count() if links is not None else 0) <= local_max_rows:
        edge_rows, link_rows = _rows(group_edges), _rows(group_links) if group_links is not None else []
        closed, rounds = close_groups(_rows(seed_groups), edge_rows, link_rows, max_rounds)
        scope = seeds.sparkSession.createDataFrame(pa.table({"group": pa.array(sorted(closed), pa.string())}))
        return _scope_records(scope, membership, checkpoint), rounds
    scope = checkpoint(seed_groups, "scope-0")
    size = scope.count()
    for round_number in range(1, max_rounds + 1):
        nodes = group_edges.join(scope, "group", "left_semi").select("node").distinct()
        grown = scope.unionByName(group_edges.join(nodes, "node", "left_semi").select("group"))
        if group_links is not None:
            grown = grown.unionByName(
                group_links.join(scope, "group", "left_semi").select(F.col("other_group").alias("group"))
            )
        grown = checkpoint(grown.distinct(), f"scope-{round_number}")
        grown_size = grown.count()
        scope = grown
        if grown_size == size:
            return _scope_records(scope, membership, checkpoint), round_number
        size = grown_size
    raise ScopeDidNotConverge(f"the incremental scope still grew after {max_rounds} rounds")


def close_groups(
    seeds: Iterable[str],
    group_edges: Iterable[tuple[str, int]],
    group_links: Iterable[tuple[str, str]],
    max_rounds: int,
) -> tuple[set[str], int]:
    """:func:`scope_closure`'s rounds on the driver: (the closed groups, rounds), counted as the Spark rounds are
    (each round adds the groups one node or link away from the scope; the round that adds none is counted too)."""
    groups_of: dict[int, list[str]] = defaultdict(list)  # node -> its groups
    nodes_of: dict[str, list[int]] = defaultdict(list)  # group -> its nodes
    for group, node in group_edges:
        if node is None:  # joins no other group on Spark either
            continue
        groups_of[node].append(group)
        nodes_of[group].append(node)
    linked: dict[str, list[str]] = defaultdict(list)
    for group, other in group_links:
        linked[group].append(other)
    scope = set(seeds)
    frontier = set(scope)
    seen_nodes: set[int] = set()
    for round_number in range(1, max_rounds + 1):
        grown: set[str] = set()
        for group in frontier:
            for node in nodes_of.get(group, ()):
                if node not in seen_nodes:
                    seen_nodes.add(node)
                    grown.update(groups_of[node])
            grown.update(linked.get(group, ()))
        frontier = grown - scope
        if not frontier:
            return scope, round_number
        scope |= frontier
    raise ScopeDidNotConverge(f"the incremental scope still grew after {max_rounds} rounds")


def _rows(df: DataFrame) -> list[Any]:
    """The frame's rows as tuples (one column: its values), through Arrow: no Row object per value."""
    table = df.toArrow()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


def _scope_records(scope: DataFrame, membership: DataFrame, checkpoint: Checkpoint) -> DataFrame:
    """The records of the closed groups: the previous customers' membership rows (whole: the caller needs them too,
    and the membership is then read once more, not twice), and the lone records (a record outside the membership,
    its other columns null). One row per record: a record is in at most one previous customer, a lone one in none."""
    customers = membership.join(scope.withColumnRenamed("group", "customer_id"), "customer_id", "left_semi")
    alone = scope.where(F.col("group").startswith(RECORD_GROUP)).select(
        F.expr(f"substring(group, {len(RECORD_GROUP) + 1})").alias("record_key")
    )
    return checkpoint(customers.unionByName(alone, allowMissingColumns=True), "scope")


def changed_keys(before: DataFrame, after: DataFrame, keys: Sequence[str], ignored: Sequence[str] = ()) -> DataFrame:
    """(keys..., had_before): the keys whose rows differ between ``before`` and ``after`` (the same columns), compared
    as multisets on every column but ``ignored``, nulls equal to nulls (as EXCEPT ALL compares); ``had_before``: the
    key has rows in ``before`` (they must go), else it is new. A key whose rows are the same on both sides is left
    out: its rows can stay as they are. One pass over both sides: a count per distinct row and side, then per key."""
    compared = [c for c in after.columns if c not in ignored]
    rows = before.select(*compared, F.lit(1).alias("_before"), F.lit(0).alias("_after")).unionByName(
        after.select(*compared, F.lit(0).alias("_before"), F.lit(1).alias("_after"))
    )
    counted = rows.groupBy(*compared).agg(F.sum("_before").alias("_before"), F.sum("_after").alias("_after"))
    return (
        counted.groupBy(*keys)
        .agg(
            F.max(F.col("_before") != F.col("_after")).alias("_changed"),
            F.max(F.col("_before") > 0).alias("had_before"),
        )
        .where("_changed")
        .drop("_changed")
    )
