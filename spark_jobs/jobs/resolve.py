"""The identity resolution job: bronze tables in, ``gold.identity_map`` and the identity graph out.

Reads every bronze source named in the identity rules, normalises and guards identifiers, stitches
deterministically in priority order, links the remaining person records probabilistically (Fellegi-Sunter, model
trained without labels and saved as JSON until retrained), assigns stable customer ids and writes the outputs as
Delta tables (see ``cdp.lake``). Each run is recorded in ``audit.identity_runs`` with the rules version.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from deltalake import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F

from cdp import lake as tables
from cdp.lake import Lake
from cdp.maintenance import row_count
from cdp.tables import checkpointer
from spark_jobs import processes
from spark_jobs.jobs.locking import DEFAULT_STALE_AFTER, lake_lock
from spark_jobs.rules import IdentityRules
from spark_jobs.transforms import matching
from spark_jobs.transforms.identifiers import (
    best_identifiers,
    extract_attributes,
    extract_identifiers,
    guard_shared_identifiers,
    normalise_attributes,
    normalise_identifiers,
)
from spark_jobs.transforms.incremental import (
    ScopeDidNotConverge,
    bridging_nodes,
    changed_keys,
    combine_incidence,
    earlier_conflicts,
    near_links,
    previous_incidence,
    regard_touched,
    scope_closure,
)
from spark_jobs.transforms.local_stitching import stitch_identifiers_locally
from spark_jobs.transforms.stable_ids import assign_stable_ids
from spark_jobs.transforms.stitching import merge_links, stitch_identifiers

MODEL_NAME = "identity_fs"
MODES = ("auto", "full", "incremental")
INGEST_RUN_COLUMN = "_ingest_run_id"  # bronze lineage (ingest.job.RUN_COLUMNS): which ingest run wrote the row
Progress = Callable[[str], None]
# An incremental run with at most this many new records normalises their identifiers in the engine's process, not
# in worker processes: starting the pool (spawned interpreters importing the normalisers) cost 1.0 CPU s and 1.3 s
# of wall for the 9,956 new records of the 1M benchmark, whose phones take 0.5 CPU s on one core.
INLINE_NORMALISE_MAX_RECORDS = 25_000
# How far under the match threshold (in match weight, log2 odds) an earlier unlinked pair still joins an incremental
# run's scope: term frequencies move a pair's weight as profiles are added or merged (a name's count going from 2
# to 1 adds 1 bit), and a pair that crosses the threshold must not link outside the scope.
NEAR_LINK_MARGIN_BITS = 2.0


@dataclass
class ResolveReport:
    run_id: str
    rules_tag: str
    started_at: datetime
    records: int = 0
    resolved_records: int = 0
    customers: int = 0
    largest_customer: int = 0
    dropped_identifiers: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    candidate_pairs: int = 0
    refused_links: int = 0
    merges: int = 0
    splits: int = 0
    new_customers: int = 0
    rounds: int = 0
    model_trained: bool = False
    records_in_multi_record_customers: int = 0
    size_histogram: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    mode: str = ""  # full or incremental
    mode_reason: str = ""
    new_records: int = 0  # records with rows this run read for the first time (every record in a full run)
    scope_records: int = 0  # records this run resolved (every record in a full run)
    scope_passes: int = 0  # times an incremental run resolved its scope (more than 1: the scope was widened)
    watermark: dict[str, list[str]] | None = None  # per source, the ingest runs read
    model_trained_at: str | None = None  # the probabilistic model used

    @property
    def matched_share(self) -> float:
        """Share of resolved records whose customer holds more than one record."""
        return self.records_in_multi_record_customers / max(1, self.resolved_records)


SIZE_BUCKETS = ((1, "1"), (2, "2"), (5, "3-5"), (10, "6-10"), (100, "11-100"), (1000, "101-1000"))


def _bucket(size: F.Column) -> F.Column:
    expression = F.when(F.lit(False), F.lit(""))
    for upper, label in SIZE_BUCKETS:
        expression = expression.when(size <= upper, F.lit(label))
    return expression.otherwise(F.lit(">1000"))


def resolve_identities(
    spark: SparkSession,
    lake: Lake,
    rules: IdentityRules,
    *,
    default_region: str,
    retrain: bool = False,
    mode: str = "auto",
    max_new_share: float = 0.1,
    local_scope_max_records: int = 200_000,
    progress: Progress | None = None,
    file_format: str = "delta",
    lock_stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> ResolveReport:
    """Resolve every record of the bronze tables to a customer and write the identity tables.

    One run at a time per lake: the run holds ``<lake>/_locks/identity.lock`` (see :mod:`spark_jobs.jobs.locking`)
    and raises :class:`~spark_jobs.jobs.locking.LakeLocked`, naming the holder, while another live run holds it.

    ``file_format="parquet"`` runs the same job on plain Parquet tables at the same paths: for engines without the
    Delta jars (JVM Spark local mode here), used by the engine benchmark only.

    ``mode``: "full" resolves every record; "incremental" only the bronze rows no earlier run read and the earlier
    records they can change (see :mod:`spark_jobs.transforms.incremental`), and fails when that is not possible;
    "auto" runs incrementally when it can (same rules and model as the last run, every bronze table with ingest
    lineage, new records at most ``max_new_share`` of the earlier ones) and fully otherwise.

    ``local_scope_max_records``: an incremental run whose scope holds at most this many records stitches it on the
    driver (:mod:`spark_jobs.transforms.local_stitching`, the same rules and answer), and closes the scope there too
    when the closure's edges and near links are at most this many rows; 0 always stitches and closes on Spark."""
    started = datetime.now(UTC)
    run_id = f"identity-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = ResolveReport(run_id=run_id, rules_tag=rules.tag, started_at=started)
    staging = lake.staging_dir(run_id)
    checkpoint = checkpointer(spark, staging, file_format)
    io = _TableIO(spark, lake, file_format)
    say = progress or (lambda _message: None)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        # Added up: a widened incremental scope runs scope, stitch and match again.
        report.seconds[step] = round(report.seconds.get(step, 0.0) + now - clock, 2)
        clock = now

    with lake_lock(lake, "identity", run_id=run_id, stale_after=lock_stale_after) as lock:
        try:
            present = {s: r for s, r in rules.sources.items() if io.exists(tables.bronze(s))}
            # Each source read at one Delta version, so the watermark names exactly the rows this run read.
            bronze = {s: io.read(tables.bronze(s), pinned=True) for s in present}
            report.watermark = _watermark(bronze)
            run = _Run(spark, lake, rules, io, checkpoint, report, lap, say, default_region, present, bronze, lock)
            run.local_scope_max_records = local_scope_max_records
            previous_run, reason = _plan(mode, retrain, io, rules, lake, report.watermark)
            report.mode_reason = reason
            if previous_run is not None:
                try:
                    _run_incremental(run, previous_run, max_new_share=max_new_share, forced=mode == "incremental")
                    report.mode = "incremental"
                except _FullRunNeeded as exc:
                    if mode == "incremental":
                        raise ValueError(f"an incremental run is not possible: {exc}") from None
                    report.mode_reason = str(exc)
            elif mode == "incremental":
                raise ValueError(f"an incremental run is not possible: {reason}")
            if report.mode != "incremental":
                report.mode = "full"
                _run_full(run, retrain)
            # The model the next run must find unchanged to continue incrementally (trained or not used yet: None).
            model = _load_model(lake, rules)
            report.model_trained_at = model.trained_at if model is not None else None
            lap("finish")  # the model check; the run record below is written with the steps' seconds
            _record_run(spark, io, report)
            return report
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            processes.shutdown()  # the normalisers' worker processes, if the engine needed them


@dataclass
class _Run:
    """What every step of one run needs."""

    spark: SparkSession
    lake: Lake
    rules: IdentityRules
    io: _TableIO
    checkpoint: Callable[[DataFrame, str], DataFrame]
    report: ResolveReport
    lap: Callable[[str], None]
    say: Progress
    default_region: str
    present: dict[str, Any]
    bronze: dict[str, DataFrame]
    lock: Any
    local_scope_max_records: int = 0

    @property
    def now(self) -> F.Column:
        return F.lit(self.report.started_at).cast("timestamp")


class _FullRunNeeded(Exception):
    """An incremental run found it cannot give a full run's answer (said why); nothing was written yet."""


def _watermark(bronze: dict[str, DataFrame]) -> dict[str, list[str]] | None:
    """Per source, the ingest runs whose rows this run read; None when a source has no ingest lineage column."""
    if any(INGEST_RUN_COLUMN not in df.columns for df in bronze.values()):
        return None
    return {
        s: sorted(r[0] for r in df.select(INGEST_RUN_COLUMN).distinct().collect() if r[0] is not None)
        for s, df in bronze.items()
    }


def _plan(
    mode: str, retrain: bool, io: _TableIO, rules: IdentityRules, lake: Lake, watermark: dict[str, list[str]] | None
) -> tuple[dict[str, Any] | None, str]:
    """(the previous run to continue from, or None for a full run; why)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "full":
        return None, "full run requested"
    if retrain:
        return None, "the model is retrained"
    if io.file_format != "delta":
        return None, "incremental runs need Delta tables"
    if watermark is None:
        return None, f"a bronze table has no {INGEST_RUN_COLUMN} column to tell new rows"
    needed = (tables.IDENTITY_RUNS, tables.IDENTITY_MAP, tables.IDENTITY_IDENTIFIERS)
    if not all(io.exists(t) for t in needed):
        return None, "no earlier run"
    runs = io.read(tables.IDENTITY_RUNS)
    if "bronze_watermark" not in runs.columns:
        return None, "the earlier runs recorded no bronze watermark"
    last = runs.orderBy(F.desc("started_at")).limit(1).collect()[0].asDict()
    if last["bronze_watermark"] is None:
        return None, "the last run recorded no bronze watermark"
    if last["rule_version"] != rules.tag:
        return None, f"the identity rules changed ({last['rule_version']} -> {rules.tag})"
    model = _load_model(lake, rules)
    if (model.trained_at if model else None) != last.get("model_trained_at"):
        return None, "the probabilistic model changed since the last run"
    if "assigned_at" not in io.read(tables.IDENTITY_MAP).columns:
        return None, "the identity map predates incremental runs"
    return last, "continues run " + last["run_id"]


def _run_full(run: _Run, retrain: bool) -> None:
    rules, io, checkpoint, report = run.rules, run.io, run.checkpoint, run.report
    present, bronze, say, lap = run.present, run.bronze, run.say, run.lap
    # 1. Identifiers and attributes from every bronze source that exists.
    say("extracting identifiers")
    incidence = reduce(DataFrame.unionByName, [extract_identifiers(s, bronze[s], r) for s, r in present.items()])
    # Written once: normalisation reads it three times (country hints, distinct values, the join back).
    incidence = checkpoint(incidence, "incidence-raw")
    incidence = normalise_identifiers(incidence, rules, run.default_region)
    incidence = checkpoint(incidence, "incidence-normalised")
    incidence = checkpoint(guard_shared_identifiers(incidence, rules.degree_guard), "incidence")
    report.scope_records = report.new_records = incidence.select("record_key").distinct().count()
    lap("normalise")

    # 2.-3. Deterministic stitching, then probabilistic links between person records in different components.
    resolved = _resolve_incidence(run, incidence, retrain=retrain, stored_profiles=None)

    # 4. Stable ids and outputs.
    say("assigning stable customer ids")
    previous = io.read(tables.IDENTITY_MAP) if io.exists(tables.IDENTITY_MAP) else None
    identity_map, ids, events = _stable_outputs(run, resolved, previous)
    profiles = _profiles_out(run, resolved, ids)
    lap("stable_ids")

    say("writing outputs")
    run.lock.ensure_held()  # a run whose lock was broken as stale must not write over the run that took it
    io.overwrite(identity_map, tables.IDENTITY_MAP)
    io.overwrite(_identifiers_out(resolved.incidence, report.run_id), tables.IDENTITY_IDENTIFIERS)
    if resolved.pairs_out is not None:
        io.overwrite(resolved.pairs_out.withColumn("run_id", F.lit(report.run_id)), tables.IDENTITY_MATCH_PAIRS)
    if profiles is not None:
        io.overwrite(profiles, tables.IDENTITY_PROFILES)
    _append_ids_and_history(run, ids, events)
    report.records = report.scope_records
    _collect_stats(report, resolved.incidence, identity_map, events, ids, resolved.refused)
    lap("write")


@dataclass
class _Resolved:
    incidence: DataFrame  # record x identifier with every drop reason (the scope's, in an incremental run)
    final: DataFrame  # record_key, node, id_type, final_component, det_component
    pairs_out: DataFrame | None
    refused: DataFrame | None
    profiles: DataFrame | None  # profile_key, component (deterministic), attributes
    escaped: DataFrame | None  # customer_id: earlier customers outside the scope that a new link reaches


def _resolve_incidence(
    run: _Run,
    incidence: DataFrame,
    *,
    retrain: bool,
    stored_profiles: DataFrame | None,
    scope: DataFrame | None = None,
    local: bool = False,
) -> _Resolved:
    """Stitch, then link probabilistically, the records of ``incidence`` (guarded, value drop reasons set).

    With ``stored_profiles`` (an incremental run: the profiles outside the scope), candidate pairs are the scope's
    profiles against every profile, and the model is never trained. ``local``: stitch on the driver (a small scope)."""
    rules, checkpoint, report = run.rules, run.checkpoint, run.report
    run.say("stitching identifiers")
    priorities = {t: spec.priority for t, spec in rules.identifier_types.items()}
    limits = {t: spec.max_per_profile for t, spec in rules.identifier_types.items()}
    usable = incidence.where(F.col("drop_reason").isNull())
    if local:
        stitched = stitch_identifiers_locally(
            usable, rules.types_by_priority(), limits, checkpoint, priorities=priorities
        )
    else:
        stitched = stitch_identifiers(usable, rules.types_by_priority(), limits, checkpoint)
    report.rounds += stitched.rounds
    conflicts = stitched.conflicts.select("node", F.col("reason").alias("_conflict"))
    incidence = checkpoint(
        incidence.join(conflicts, "node", "left")
        .withColumn("drop_reason", F.coalesce("drop_reason", "_conflict"))
        .drop("_conflict"),
        "incidence-final",
    )
    best = stitched.best if stitched.best is not None else checkpoint(best_identifiers(incidence, priorities), "best")
    deterministic = best.join(stitched.assigned.select("node", "component"), "node").select(
        "record_key", "id_type", "component"
    )
    run.lap("stitch")

    run.say("matching person records")
    assigned, pairs_out, refused, profiles, escaped = _probabilistic(
        run, deterministic, stitched.assigned, limits, retrain, stored_profiles, scope
    )
    run.lap("match")
    final = best.join(assigned.select("node", F.col("component").alias("final_component")), "node")
    final = final.join(deterministic.select("record_key", F.col("component").alias("det_component")), "record_key")
    final = checkpoint(final, "final")
    return _Resolved(incidence, final, pairs_out, refused, profiles, escaped)


def _stable_outputs(
    run: _Run, resolved: _Resolved, previous: DataFrame | None
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(identity map rows, ids, merge/split events) for the resolved records; ``previous``: the earlier identity map
    rows of the same records (every earlier record in a full run)."""
    io, checkpoint, report = run.io, run.checkpoint, run.report
    registry = io.read(tables.CUSTOMER_ID_REGISTRY) if io.exists(tables.CUSTOMER_ID_REGISTRY) else None
    prev_records = (
        previous.select(F.concat("source", F.lit(":"), "source_record_id").alias("record_key"), "customer_id")
        if previous is not None
        else None
    )
    ids, events = assign_stable_ids(
        resolved.final.select("record_key", F.col("final_component").alias("component")),
        prev_records,
        registry,
        report.run_id,
        checkpoint,  # the ids, written before the events are derived from them
    )
    # Materialise everything that reads the previous identity map before it is overwritten.
    events = checkpoint(events, "events")
    link_probability = _link_probability(resolved.pairs_out)
    identity_map = _identity_map(
        resolved.final, ids, link_probability, resolved.incidence, run.rules.tag, report.run_id
    )
    identity_map = checkpoint(with_assigned_at(identity_map, previous, run.now), "identity_map")
    return identity_map, ids, events


def with_assigned_at(identity_map: DataFrame, previous: DataFrame | None, now: F.Column) -> DataFrame:
    """Add ``assigned_at``: when the record got its current customer id. A record whose id did not change keeps
    the earlier time (an identity map from before this column counts as assigned now)."""
    if previous is None:
        return identity_map.withColumn("assigned_at", now)
    earlier = F.col("assigned_at") if "assigned_at" in previous.columns else F.lit(None).cast("timestamp")
    prev = previous.select(
        "source", "source_record_id", F.col("customer_id").alias("_prev_id"), earlier.alias("_prev_at")
    )
    kept = F.col("_prev_id").isNotNull() & (F.col("_prev_id") == F.col("customer_id"))
    return (
        identity_map.join(prev, ["source", "source_record_id"], "left")
        .withColumn("assigned_at", F.when(kept, F.coalesce("_prev_at", now)).otherwise(now))
        .drop("_prev_id", "_prev_at")
    )


def _identifiers_out(incidence: DataFrame, run_id: str) -> DataFrame:
    return incidence.withColumn(
        "status", F.when(F.col("drop_reason").isNull(), "used").otherwise("not used")
    ).withColumn("run_id", F.lit(run_id))


def _profiles_out(run: _Run, resolved: _Resolved, ids: DataFrame) -> DataFrame | None:
    """The person profiles with their customer, kept so an incremental run compares new profiles with old ones."""
    if resolved.profiles is None:
        return None
    customer = resolved.final.select(F.col("record_key").alias("profile_key"), "final_component").join(
        ids.select(F.col("component").alias("final_component"), "customer_id"), "final_component"
    )
    return resolved.profiles.join(customer.drop("final_component"), "profile_key", "left").withColumn(
        "run_id", F.lit(run.report.run_id)
    )


def _append_ids_and_history(run: _Run, ids: DataFrame, events: DataFrame) -> None:
    io, report = run.io, run.report
    new_ids = ids.where("is_new").select(
        "customer_id", run.now.alias("created_run_at"), F.lit(report.run_id).alias("created_run_id")
    )
    io.append(new_ids, tables.CUSTOMER_ID_REGISTRY)
    history = events.select(
        F.lit(report.run_id).alias("run_id"),
        F.lit(run.rules.tag).alias("rule_version"),
        run.now.alias("occurred_at"),
        "event",
        "customer_id",
        "other_customer_ids",
        "records",
        F.when(F.col("event") == "merge", F.lit("records of the other ids are now linked to this customer"))
        .otherwise(F.lit("records of this customer now resolve to the other ids"))
        .alias("evidence"),
    )
    io.append(history, tables.IDENTITY_MERGE_HISTORY)


def _run_incremental(run: _Run, previous_run: dict[str, Any], *, max_new_share: float, forced: bool) -> None:
    """Resolve only the new bronze records and the earlier records they can change; raise _FullRunNeeded (before
    writing anything) when that cannot give a full run's answer or would not be cheaper."""
    rules, io, checkpoint, report = run.rules, run.io, run.checkpoint, run.report
    say, lap = run.say, run.lap
    say("finding new bronze rows")
    seen: dict[str, list[str]] = json.loads(previous_run["bronze_watermark"])
    parts, new_rows = [], {}
    for source, source_rules in run.present.items():
        rows = run.bronze[source]
        if seen.get(source):
            rows = rows.where(~F.col(INGEST_RUN_COLUMN).isin(seen[source]))
        new_rows[source] = rows
        parts.append(extract_identifiers(source, rows, source_rules))
    new_raw = checkpoint(reduce(DataFrame.unionByName, parts), "incidence-raw")
    touched = checkpoint(new_raw.select("record_key").distinct(), "touched")
    report.new_records = touched.count()
    erased = _erased_records(run, previous_run)
    earlier_records = int(previous_run["records"] or 0) - erased
    if report.new_records == 0:
        _carry_stats(report, previous_run)  # a no-op: only the run record is written
        report.records = earlier_records
        if erased:  # the erased records' customers are gone from the map: count its customers again
            _map_sizes(report, io.read(tables.IDENTITY_MAP))
        lap("normalise")
        return
    share = report.new_records / max(1, int(previous_run["records"] or 0))
    if share > max_new_share and not forced:
        raise _FullRunNeeded(
            f"{report.new_records:,} new records are {share:.1%} of the earlier ones, above "
            f"identity_incremental_max_new_share ({max_new_share:.0%}): a full run is cheaper"
        )
    new = checkpoint(
        normalise_identifiers(
            new_raw,
            rules,
            run.default_region,
            checkpoint=checkpoint,
            processes=1 if report.new_records <= INLINE_NORMALISE_MAX_RECORDS else None,
        ),
        "incidence-normalised",
    )
    lap("normalise")

    say("finding the records the new ones can change")
    identifiers = io.read(tables.IDENTITY_IDENTIFIERS)
    previous = previous_incidence(identifiers)
    # The earlier rows of records that gained rows (none when every new row is a new record's): which records,
    # from the one narrow column first, so that the common case (only new records) reads no other column.
    earlier_keys = checkpoint(
        identifiers.select("record_key").join(touched, "record_key", "left_semi").distinct(), "touched-earlier"
    )
    earlier_touched = earlier_keys.count()
    touched_before = (
        checkpoint(previous.join(earlier_keys, "record_key", "left_semi"), "touched-before")
        if earlier_touched
        else previous.where(F.lit(False))
    )
    # The whole-lake record count: the earlier records still in the lake plus the records seen for the first time.
    report.records = earlier_records + report.new_records - earlier_touched
    # Records that gained rows: their old and new identifiers, one row each; every other record as it was. When
    # every new row is a new record's there is nothing to combine: the new rows are one per (record, type, raw value).
    regained = checkpoint(combine_incidence(touched_before, new), "regained") if earlier_touched else new

    def untouched(rows: DataFrame) -> DataFrame:
        """The earlier incidence ``rows`` (:func:`previous_incidence`) of records that gained no rows."""
        rows = rows.drop("_was_shared")
        return rows.join(touched, "record_key", "left_anti") if earlier_touched else rows

    everything = untouched(previous).unionByName(regained)
    was_shared = (
        previous.where(F.col("_was_shared").isNotNull()).groupBy("node").agg(F.min("_was_shared").alias("_was_shared"))
    )
    # The usable rows of every node that can join records of two earlier customers (see bridging_nodes: the touched
    # nodes, the only ones whose guard verdict can change, and the earlier conflicts), in one scan of the whole
    # incidence: the guard's holders of the touched nodes, the closure's edges and the holders of changed nodes.
    conflicts = checkpoint(earlier_conflicts(identifiers), "conflicts")
    candidates = regained.where(F.col("drop_reason").isNull()).select("node").unionByName(conflicts).distinct()
    bridging_rows = checkpoint(
        everything.where(F.col("drop_reason").isNull())
        .select("record_key", "node")
        .join(candidates, "node", "left_semi"),
        "bridging-rows",
    )
    shared, changed = regard_touched(
        everything,
        was_shared,
        touched,
        rules.degree_guard,
        lambda df, name: checkpoint(df, f"guard-{name}"),
        touched_rows=regained,  # every row of the touched records in ``everything``
        held_rows=bridging_rows,
    )
    shared, changed = checkpoint(shared, "shared"), checkpoint(changed, "guard-changed")

    # Identifiers that may stitch (conflicts included: a limit is re-decided over the whole component), of the
    # nodes that can join records of two earlier customers; every other such node joins one customer's records.
    bridging = bridging_nodes(regained, changed, conflicts)
    edges = checkpoint(bridging_rows.join(bridging, "node", "left_semi").join(shared, "node", "left_anti"), "edges")
    # Not written: the closure reads it twice (the groups of the records it names, and its records at the end,
    # whole rows: the scope's previous map rows, which the stable ids need).
    previous_map = io.read(tables.IDENTITY_MAP)
    membership = previous_map.withColumn("record_key", F.concat("source", F.lit(":"), "source_record_id"))
    # A changed node is a touched one, and every row of a node is usable or none is (a value-level reason belongs to
    # the value): its holders are among the bridging rows.
    seeds = touched.unionByName(bridging_rows.join(changed, "node", "left_semi").select("record_key"))
    stored = io.read(tables.IDENTITY_PROFILES) if io.exists(tables.IDENTITY_PROFILES) else None
    # So that no probabilistic link of this run reaches outside the scope (which is then resolved once): the
    # earlier profiles a new record's attributes share a blocking key with seed it, and the earlier pairs that may
    # link this run close it. The widening below stays as a safety net, counted in scope_passes.
    links = None
    if stored is not None:
        seeds = seeds.unionByName(_probabilistic_neighbours(run, new_rows, stored))
    if io.exists(tables.IDENTITY_MATCH_PAIRS):
        pairs = io.read(tables.IDENTITY_MATCH_PAIRS)
        threshold = rules.probabilistic.match_threshold
        links = checkpoint(near_links(pairs, threshold, NEAR_LINK_MARGIN_BITS), "near-links")
    for _widening in range(3):
        report.scope_passes += 1
        if report.scope_passes > 1:
            say(f"widening the scope (pass {report.scope_passes}): a new link reached a customer outside it")
        try:
            scope_rows, rounds = scope_closure(
                seeds, edges, membership, checkpoint, links=links, local_max_rows=run.local_scope_max_records
            )
        except ScopeDidNotConverge as exc:
            raise _FullRunNeeded(str(exc)) from None
        scope = scope_rows.select("record_key")
        report.rounds += rounds
        report.scope_records = scope.count()
        # The scope's stored identifier rows, written: the scope's incidence is derived from them (the one read of
        # the whole table, as before), and the write compares what it would write with them (no second read).
        stored_rows = checkpoint(identifiers.join(scope, "record_key", "left_semi"), "scope-identifiers")
        scope_incidence = untouched(previous_incidence(stored_rows)).unionByName(
            regained.join(scope, "record_key", "left_semi")
        )
        guarded = (
            scope_incidence.join(shared, "node", "left")
            .withColumn("drop_reason", F.coalesce("drop_reason", "_shared"))
            .drop("_shared")
        )
        incidence = checkpoint(guarded, "incidence")
        lap("scope")
        outside = (
            stored.join(scope.withColumnRenamed("record_key", "profile_key"), "profile_key", "left_anti")
            if (stored is not None)
            else run.spark.createDataFrame([], _PROFILE_SCHEMA)
        )
        local = report.scope_records <= run.local_scope_max_records
        resolved = _resolve_incidence(run, incidence, retrain=False, stored_profiles=outside, scope=scope, local=local)
        if resolved.escaped is None or resolved.escaped.limit(1).count() == 0:
            break
        seeds = scope.unionByName(membership.join(resolved.escaped, "customer_id", "left_semi").select("record_key"))
    else:
        raise _FullRunNeeded("new probabilistic links kept reaching customers outside the incremental scope")

    say("assigning stable customer ids")
    # The scope's previous map rows, written with the scope: ids, events and assigned_at each read them (not the
    # whole map again). A record without one (new) has no customer.
    previous_map = scope_rows.where(F.col("customer_id").isNotNull()).select(*previous_map.columns)
    identity_map, ids, events = _stable_outputs(run, resolved, previous_map)
    profiles = _profiles_out(run, resolved, ids)
    lap("stable_ids")

    say("writing the changed rows")
    run.lock.ensure_held()
    _replace_rows(run, tables.IDENTITY_MAP, identity_map, scope, before=previous_map)
    identifiers_out = _identifiers_out(resolved.incidence, report.run_id)
    _replace_rows(run, tables.IDENTITY_IDENTIFIERS, identifiers_out, scope, before=stored_rows)
    if io.exists(tables.IDENTITY_MATCH_PAIRS) or resolved.pairs_out is not None:
        new_pairs = resolved.pairs_out.withColumn("run_id", F.lit(report.run_id)) if resolved.pairs_out else None
        _replace_rows(run, tables.IDENTITY_MATCH_PAIRS, new_pairs, scope)
    if profiles is not None:
        _replace_rows(run, tables.IDENTITY_PROFILES, profiles, scope)
    _append_ids_and_history(run, ids, events)
    # The customers outside the scope are the previous run's (the scope holds whole earlier customers, and its
    # customers only its records): the size figures are the previous run's less the scope's before, plus after.
    carried = not erased and _carry_sizes(report, previous_run, previous_map, identity_map)
    if carried and report.resolved_records != row_count(run.lake, tables.IDENTITY_MAP):
        carried = False  # not the map as written: count it
    whole_map = None if carried else io.read(tables.IDENTITY_MAP)
    _collect_stats(report, io.read(tables.IDENTITY_IDENTIFIERS), whole_map, events, ids, None)
    if io.exists(tables.IDENTITY_MATCH_PAIRS):
        all_pairs = io.read(tables.IDENTITY_MATCH_PAIRS)
        report.candidate_pairs = all_pairs.count()
        report.refused_links = all_pairs.where(F.col("refused_reason").isNotNull()).count()
    lap("write")


def _probabilistic_neighbours(run: _Run, new_rows: dict[str, DataFrame], stored: DataFrame) -> DataFrame:
    """(record_key) of the earlier profiles that share a blocking key with a new bronze row's person attributes."""
    parts = [a for s, r in run.present.items() if (a := extract_attributes(s, new_rows[s], r)) is not None]
    if not parts:
        return run.spark.createDataFrame([], "record_key string")
    attributes = run.checkpoint(normalise_attributes(reduce(DataFrame.unionByName, parts)), "new-attributes")
    neighbours = matching.blocking_neighbours(stored, attributes, run.rules.probabilistic.blocking_rules)
    return neighbours.select(F.col("profile_key").alias("record_key"))


_PROFILE_SCHEMA = (
    "profile_key string, component long, first_name string, last_name string, date_of_birth date, address string, "
    "city string, postcode string, customer_id string, run_id string"
)


# The tables an incremental run changes in place, and how a row names the records it belongs to: SQL expressions
# over its columns (``t.``); a row is the scope's when any of them is a record of the scope (a pair: either side).
# Written with deletion vectors, so that a MERGE marks the replaced rows instead of rewriting every file.
REPLACED_IN_PLACE: dict[tables.Table, tuple[str, ...]] = {
    tables.IDENTITY_MAP: ("concat(t.source, ':', t.source_record_id)",),
    tables.IDENTITY_IDENTIFIERS: ("t.record_key",),
    tables.IDENTITY_MATCH_PAIRS: ("t.left_key", "t.right_key"),
    tables.IDENTITY_PROFILES: ("t.profile_key",),
}
# What a row of those tables is the row of: an incremental run replaces a key's rows when they differ from what it
# would write (on any column but run_id), and leaves the others as they are.
ROW_KEYS: dict[tables.Table, tuple[str, ...]] = {
    tables.IDENTITY_MAP: ("source", "source_record_id"),
    tables.IDENTITY_IDENTIFIERS: ("record_key", "id_type", "raw_value"),
    tables.IDENTITY_MATCH_PAIRS: ("left_key", "right_key"),
    tables.IDENTITY_PROFILES: ("profile_key",),
}
# A kept row keeps the run_id of the run that wrote it: run_id says which run last wrote or changed a row, not
# which run last looked at it (no reader needs the latter; the map's assigned_at is kept the same way).
KEPT_COLUMNS = ("run_id",)
DELETION_VECTORS = "delta.enableDeletionVectors"


def _replace_rows(
    run: _Run, table: tables.Table, rows: DataFrame | None, scope: DataFrame, before: DataFrame | None = None
) -> None:
    """Make the scope's rows of ``table`` (records ``scope.record_key``) ``rows`` (every one of them the scope's) in
    one Delta commit, so readers see the table before or after, never half-way. ``before``: the scope's rows of the
    table as they are, when the caller has them (else they are read).

    Only the keys (:data:`ROW_KEYS`) whose rows change are written: a row equal to the one the table holds, run_id
    aside, is left as it is (with its earlier run_id). When no earlier row changes or goes (new records joining
    customers), the new rows are appended: no read of the whole table, which a MERGE always makes. Otherwise one
    MERGE whose source is one marker per replaced key (a marker that matches deletes the row) and the changed keys'
    new rows (inserted); with deletion vectors it only marks the deleted rows. New columns in ``rows`` (a changed
    schema) are written by an overwrite of the whole table, as before."""
    io = run.io
    if not io.exists(table):
        if rows is not None:
            io.append(rows, table)
        return
    io.enable_deletion_vectors(table)
    # Pinned: the frame reads the version it replaces, not whatever the write leaves behind.
    old = io.read(table, pinned=True)
    if rows is not None and set(rows.columns) - set(old.columns):
        scope_keys = scope.select(F.col("record_key").alias("_scope_key"))
        kept = old.alias("t")
        for expression in REPLACED_IN_PLACE[table]:
            kept = kept.join(scope_keys, F.expr(expression) == F.col("_scope_key"), "left_anti")
        io.overwrite(kept.unionByName(rows, allowMissingColumns=True), table)
        return
    typed = {f.name: f.dataType for f in old.schema.fields}
    keys = list(ROW_KEYS[table])

    def as_table(frame: DataFrame) -> DataFrame:
        return frame.select(
            *(
                F.col(c).cast(t).alias(c) if c in frame.columns else F.lit(None).cast(t).alias(c)
                for c, t in typed.items()
            )
        )

    earlier = as_table(before if before is not None else _scope_rows(old, table, scope))
    new_rows = as_table(rows) if rows is not None else earlier.where(F.lit(False))
    changed = run.checkpoint(changed_keys(earlier, new_rows, keys, KEPT_COLUMNS), f"changed-{table.name}")
    markers = changed.where("had_before").select(*keys)
    inserted = new_rows.join(changed.select(*keys), keys, "left_semi")
    if markers.limit(1).count() == 0:
        io.append(inserted, table)  # nothing goes: one append commit (none when nothing is new either)
        return
    marker_columns = [f"_scope_key{i}" for i in range(len(keys))]
    nulls = [F.lit(None).cast(t).alias(c) for c, t in typed.items()]
    source = markers.select(*nulls, *(F.col(k).alias(n) for k, n in zip(keys, marker_columns, strict=True)))
    source = source.unionByName(
        inserted.select("*", *(F.lit(None).cast(typed[k]).alias(n) for k, n in zip(keys, marker_columns, strict=True)))
    )
    # Written first (small): the MERGE then reads a scan, not the plan of joins that found the rows (single traces
    # on the 1M map: 0.20-0.32 against 0.35-0.39 CPU s for the MERGE).
    source = run.checkpoint(source, f"merge-{table.name}")
    view = f"_replace_{table.name}_{run.report.run_id.replace('-', '_')}"
    source.createOrReplaceTempView(view)
    matched = " and ".join(f"t.`{k}` = s.{n}" for k, n in zip(keys, marker_columns, strict=True))
    columns = ", ".join(f"`{c}`" for c in typed)
    values = ", ".join(f"s.`{c}`" for c in typed)
    try:
        run.spark.sql(
            f"merge into delta.`{run.lake.uri(table)}` t using {view} s on {matched} "
            f"when matched then delete "
            f"when not matched and s.{marker_columns[0]} is null then insert ({columns}) values ({values})"
        )
    finally:
        run.spark.catalog.dropTempView(view)


def _scope_rows(old: DataFrame, table: tables.Table, scope: DataFrame) -> DataFrame:
    """The rows of ``old`` (``table``'s) that are the scope's: one of the records it names is (each row once)."""
    expressions = REPLACED_IN_PLACE[table]
    records = scope.select(F.col("record_key").alias("_scope_key")).distinct()
    if len(expressions) == 1:
        return old.alias("t").join(records, F.expr(expressions[0]) == F.col("_scope_key"), "left_semi")
    named, hits = old.alias("t"), []
    for i, expression in enumerate(expressions):  # a left join per column, so a row with both sides in it is once
        hit = records.select(F.col("_scope_key").alias(f"_key{i}"), F.lit(True).alias(f"_hit{i}"))
        named = named.join(hit, F.expr(expression) == F.col(f"_key{i}"), "left")
        hits.append(F.col(f"_hit{i}").isNotNull())
    return named.where(reduce(lambda a, b: a | b, hits)).select(*old.columns)


def _erased_records(run: _Run, previous_run: dict[str, Any]) -> int:
    """Records erased since the previous run (``cdp erase`` deletes every record of a person from the identity map
    and the identifiers, and each of them had a map row): the previous run's resolved records (its map rows then)
    less the map's rows now, from the Delta log."""
    return max(0, int(previous_run["resolved_records"] or 0) - row_count(run.lake, tables.IDENTITY_MAP))


def _carry_stats(report: ResolveReport, previous_run: dict[str, Any]) -> None:
    """A run that changed nothing reports the lake as the previous run left it."""
    for name in ("records", "resolved_records", "customers", "largest_customer", "candidate_pairs", "refused_links"):
        setattr(report, name, int(previous_run[name] or 0))
    report.records_in_multi_record_customers = round((previous_run["matched_share"] or 0) * report.resolved_records)
    report.dropped_identifiers = json.loads(previous_run["dropped_identifiers"] or "{}")
    report.size_histogram = json.loads(previous_run["size_histogram"] or "{}")


@dataclass(frozen=True)
class _TableIO:
    spark: SparkSession
    lake: Lake
    file_format: str

    def exists(self, table: tables.Table) -> bool:
        if self.file_format == "delta":
            return self.lake.exists(table)
        return self.lake.path(table).is_dir()

    def read(self, table: tables.Table, *, pinned: bool = False) -> DataFrame:
        """``pinned``: read the Delta table at its current version, so later reads see the same rows."""
        reader = self.spark.read.format(self.file_format)
        if pinned and self.file_format == "delta":
            reader = reader.option("versionAsOf", DeltaTable(self.lake.uri(table)).version())
        return reader.load(self.lake.uri(table))

    def _writer(self, df: DataFrame, table: tables.Table, mode: str) -> DataFrameWriter:
        writer = df.write.format(self.file_format).mode(mode)
        if self.file_format == "delta" and table in REPLACED_IN_PLACE:
            # Takes effect when the write creates the table; an older table is upgraded by enable_deletion_vectors.
            writer = writer.option(DELETION_VECTORS, "true")
        return writer

    def overwrite(self, df: DataFrame, table: tables.Table) -> None:
        self._writer(df, table, "overwrite").option("overwriteSchema", "true").save(self.lake.uri(table))

    def enable_deletion_vectors(self, table: tables.Table) -> None:
        """Let MERGE and DELETE write deletion vectors on a table created without them (a metadata-only commit;
        Sail cannot ALTER a table by path, deltalake can)."""
        dt = DeltaTable(self.lake.uri(table))
        if dt.metadata().configuration.get(DELETION_VECTORS) != "true":
            dt.alter.set_table_properties({DELETION_VECTORS: "true"})

    def append(self, df: DataFrame, table: tables.Table, *, merge_schema: bool = False) -> None:
        if df.limit(1).count() == 0:  # nothing to add (and Sail fails to write some empty frames)
            return
        writer = self._writer(df, table, "append")
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        writer.save(self.lake.uri(table))


def _probabilistic(
    run: _Run,
    deterministic: DataFrame,
    assigned: DataFrame,
    limits: dict[str, int],
    retrain: bool,
    stored_profiles: DataFrame | None,
    scope: DataFrame | None,
) -> tuple[DataFrame, DataFrame | None, DataFrame | None, DataFrame | None, DataFrame | None]:
    """(assigned after the links, scored pairs, refused links, profiles, escaped customers)."""
    spark, rules, checkpoint, report = run.spark, run.rules, run.checkpoint, run.report
    probabilistic = rules.probabilistic
    parts = [a for s, r in run.present.items() if (a := extract_attributes(s, run.bronze[s], r)) is not None]
    if not parts:
        return assigned, None, None, None, None
    attributes = reduce(DataFrame.unionByName, parts)
    if scope is not None:
        attributes = attributes.join(scope, "record_key", "left_semi")
    attributes = normalise_attributes(attributes)
    record_component = deterministic.select("record_key", "component")
    profiles = checkpoint(matching.person_profiles(attributes, record_component), "profiles")
    if stored_profiles is None:
        everyone = profiles
        # Nothing to compare: skip (Sail also fails on some joins over empty inputs).
        if profiles.limit(2).count() < 2:
            return assigned, None, None, profiles, None
        pairs = checkpoint(matching.candidate_pairs(profiles, probabilistic.blocking_rules), "pairs")
    else:
        everyone = stored_profiles.select(*profiles.columns).unionByName(profiles)
        if profiles.limit(1).count() == 0:
            return assigned, None, None, profiles, None
        pairs = checkpoint(matching.candidate_pairs_touching(everyone, profiles, probabilistic.blocking_rules), "pairs")
    if pairs.limit(1).count() == 0:
        return assigned, None, None, profiles, None
    vectors = checkpoint(matching.comparison_vectors(pairs, everyone, probabilistic.comparisons), "vectors")
    model = _load_model(run.lake, rules) if not retrain else None
    tf = {
        f: checkpoint(t, f"tf-{f}") for f, t in matching.term_frequencies(everyone, probabilistic.comparisons).items()
    }
    if model is None:
        if stored_profiles is not None:
            raise _FullRunNeeded("no saved probabilistic model to score new profiles with")
        model = _train(spark, profiles, vectors, rules, checkpoint)
        path = run.lake.model_path(MODEL_NAME)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
        report.model_trained = True
    component = everyone.select("profile_key", "component")
    scored = matching.score_pairs(vectors, model, tf)
    scored = scored.join(
        component.select(F.col("profile_key").alias("left_key"), F.col("component").alias("left_component")), "left_key"
    ).join(
        component.select(F.col("profile_key").alias("right_key"), F.col("component").alias("right_component")),
        "right_key",
    )
    scored = checkpoint(
        scored.select(
            "left_key",
            "right_key",
            "left_component",
            "right_component",
            "match_weight",
            "match_probability",
            matching.evidence(model).alias("evidence"),
        ),
        "scored",
    )
    report.candidate_pairs = scored.count()
    links = scored.where(
        (F.col("match_probability") >= probabilistic.match_threshold)
        & (F.col("left_component") != F.col("right_component"))
    ).withColumn("link_id", F.concat_ws("|", "left_key", "right_key"))
    links = checkpoint(links, "links")
    escaped = None
    if stored_profiles is not None:
        # A new link to a profile outside the scope: its customer must join the scope (the caller widens it).
        outside = stored_profiles.select("profile_key", "customer_id")
        reached = links.select(F.col("left_key").alias("profile_key")).unionByName(
            links.select(F.col("right_key").alias("profile_key"))
        )
        escaped = checkpoint(outside.join(reached, "profile_key", "left_semi").select("customer_id").distinct(), "esc")
        if escaped.limit(1).count() > 0:
            return assigned, None, None, profiles, escaped
    if links.limit(1).count() == 0:
        merged, refused = assigned, spark.createDataFrame([], "link_id string, reason string")
    else:
        merged, refused, rounds = merge_links(
            links.select("link_id", "left_component", "right_component"), assigned, limits, checkpoint
        )
        report.rounds += rounds
        refused = checkpoint(refused, "links-refused")
    pairs_out = scored.withColumn("link_id", F.concat_ws("|", "left_key", "right_key")).join(
        refused.withColumnRenamed("reason", "refused_reason"), "link_id", "left"
    )
    pairs_out = pairs_out.withColumn(
        "linked",
        (F.col("match_probability") >= probabilistic.match_threshold)
        & (F.col("left_component") != F.col("right_component"))
        & F.col("refused_reason").isNull(),
    ).withColumn("same_profile_already", F.col("left_component") == F.col("right_component"))
    return checkpoint(merged, "assigned-final"), pairs_out, refused, profiles, escaped


def _load_model(lake: Lake, rules: IdentityRules) -> matching.FellegiSunterModel | None:
    path = lake.model_path(MODEL_NAME)
    if not path.exists():
        return None
    model = matching.FellegiSunterModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    # A model trained under other rules compares other fields or levels: retrain rather than misapply it.
    return model if model.rules_tag == rules.tag else None


def _train(
    spark: SparkSession,
    profiles: DataFrame,
    vectors: DataFrame,
    rules: IdentityRules,
    checkpoint: Callable[[DataFrame, str], DataFrame],
) -> matching.FellegiSunterModel:
    probabilistic = rules.probabilistic
    comparisons = probabilistic.comparisons
    randoms = matching.random_pairs(profiles, probabilistic.u_sample_pairs).withColumn("rule", F.lit(-1))
    random_vectors = checkpoint(matching.comparison_vectors(randoms, profiles, comparisons), "random-vectors")
    u = matching.u_probabilities(matching.level_counts(random_vectors, comparisons), comparisons)
    fields = list(comparisons)
    n_levels = {f: len(c.levels) + 1 for f, c in comparisons.items()}
    training = matching.training_pairs(
        profiles, probabilistic.training_blocking_rules, probabilistic.training_max_pairs
    )
    training_vectors = checkpoint(matching.comparison_vectors(training, profiles, comparisons), "training-vectors")
    m, details = matching.expectation_maximisation(
        matching.pattern_counts(training_vectors, comparisons),
        fields,
        n_levels,
        u,
        probabilistic.training_blocking_rules,
        max_iterations=probabilistic.em_max_iterations,
        tolerance=probabilistic.em_tolerance,
    )
    # The prior: matches expected among the candidate pairs (λ by EM with m and u fixed) over all possible pairs.
    candidates = matching.pattern_counts(vectors, comparisons)
    candidate_pairs = sum(c for _, _, c in candidates)
    expected_matches = matching.estimate_lambda(candidates, fields, m, u) * candidate_pairs
    prior = matching.prior_from_training(probabilistic, expected_matches, profiles.count())
    details.update(
        {
            "candidate_pairs": candidate_pairs,
            "expected_matches_among_candidates": round(expected_matches, 1),
            "random_pairs": random_vectors.count(),
        }
    )
    return matching.FellegiSunterModel(
        fields=matching.level_labels(comparisons),
        m=m,
        u=u,
        prior_match_probability=prior,
        rules_tag=rules.tag,
        trained_at=datetime.now(UTC).isoformat(),
        training=details,
    )


def _link_probability(pairs_out: DataFrame | None) -> DataFrame | None:
    """Per deterministic component that a probabilistic link attached: the best probability of its links."""
    if pairs_out is None:
        return None
    linked = pairs_out.where("linked")
    sides = linked.select(F.col("left_component").alias("det_component"), "match_probability").unionByName(
        linked.select(F.col("right_component").alias("det_component"), "match_probability")
    )
    return sides.groupBy("det_component").agg(F.max("match_probability").alias("link_probability"))


def _identity_map(
    final: DataFrame,
    ids: DataFrame,
    link_probability: DataFrame | None,
    incidence: DataFrame,
    rules_tag: str,
    run_id: str,
) -> DataFrame:
    # One row per record (an aggregate: dropDuplicates(subset) is slow on Sail and keeps an arbitrary row).
    sources = incidence.groupBy("record_key").agg(
        *[F.min(c).alias(c) for c in ("source", "source_record_id", "observed_at")]
    )
    joined = final.join(ids.select(F.col("component").alias("final_component"), "customer_id"), "final_component")
    if link_probability is not None:
        joined = joined.join(link_probability, "det_component", "left")
    else:
        joined = joined.withColumn("link_probability", F.lit(None).cast("double"))
    # A record whose deterministic part is not the one that names the final profile joined it by a probabilistic link.
    by_link = F.col("det_component") != F.col("final_component")
    return joined.join(sources, "record_key").select(
        "customer_id",
        "source",
        "source_record_id",
        F.when(by_link, F.concat(F.lit("probabilistic via "), "id_type"))
        .otherwise(F.concat(F.lit("identifier: "), "id_type"))
        .alias("matched_by"),
        F.when(by_link, F.col("link_probability")).otherwise(F.lit(1.0)).alias("match_probability"),
        "observed_at",
        F.lit(rules_tag).alias("rule_version"),
        F.lit(run_id).alias("run_id"),
    )


def _size_buckets(identity_map: DataFrame) -> list[dict[str, Any]]:
    """Per size bucket of the map's customers: customers, records and the largest customer's size."""
    # sum(1), not count(*): Sail rejects aggregating a non-nullable count again over a one-row table.
    sizes = identity_map.groupBy("customer_id").agg(F.sum(F.lit(1)).alias("size"))
    # One pass over the customers: the whole-lake figures are sums over the size histogram's buckets.
    rows = (
        sizes.groupBy(_bucket(F.col("size")).alias("bucket"))
        .agg(F.count("*").alias("customers"), F.sum("size").alias("records"), F.max("size").alias("largest"))
        .collect()
    )
    return [
        {k: r[k] if k == "bucket" else int(r[k]) for k in ("bucket", "customers", "records", "largest")} for r in rows
    ]


def _set_sizes(report: ResolveReport, histogram: dict[str, int], records: dict[str, int], largest: int) -> None:
    """``histogram``: customers per size bucket; ``records``: their records per bucket."""
    report.size_histogram = {b: n for b, n in histogram.items() if n}
    report.customers = sum(histogram.values())
    report.resolved_records = sum(records.values())
    report.largest_customer = largest
    report.records_in_multi_record_customers = sum(n for b, n in records.items() if b != "1")


def _carry_sizes(
    report: ResolveReport, previous_run: dict[str, Any], scope_before: DataFrame, scope_after: DataFrame
) -> bool:
    """Set the size figures from the previous run's and the scope's map rows before and after (both every record
    of their customers); False (nothing set) when they cannot be told exactly that way: the previous run recorded no
    histogram, or the largest customer may have been the scope's and shrunk."""
    if not previous_run.get("size_histogram") or previous_run.get("matched_share") is None:
        return False
    before, after = _size_buckets(scope_before), _size_buckets(scope_after)
    largest_before = max((r["largest"] for r in before), default=0)
    if largest_before >= int(previous_run["largest_customer"] or 0):
        return False
    histogram = {b: int(n) for b, n in json.loads(previous_run["size_histogram"]).items()}
    resolved = int(previous_run["resolved_records"] or 0)
    multi = round(previous_run["matched_share"] * resolved)
    # Records per bucket are known for the bucket "1" (one each) and, together, for the others.
    records = {"1": histogram.get("1", 0), "many": multi}
    for rows, sign in ((before, -1), (after, 1)):
        for r in rows:
            histogram[r["bucket"]] = histogram.get(r["bucket"], 0) + sign * r["customers"]
            records["1" if r["bucket"] == "1" else "many"] += sign * r["records"]
    if any(n < 0 for n in histogram.values()):  # not the previous run's map: count it
        return False
    largest = max(int(previous_run["largest_customer"] or 0), max((r["largest"] for r in after), default=0))
    _set_sizes(report, histogram, records, largest)
    return True


def _map_sizes(report: ResolveReport, identity_map: DataFrame) -> None:
    """Set the size figures from every row of the identity map."""
    buckets = _size_buckets(identity_map)
    _set_sizes(
        report,
        {r["bucket"]: r["customers"] for r in buckets},
        {r["bucket"]: r["records"] for r in buckets},
        max((r["largest"] for r in buckets), default=0),
    )


def _collect_stats(
    report: ResolveReport,
    incidence: DataFrame,
    identity_map: DataFrame | None,
    events: DataFrame,
    ids: DataFrame,
    refused: DataFrame | None,
) -> None:
    """The run's figures; the size figures from ``identity_map`` unless it is None (set by the caller)."""
    reasons = incidence.where(F.col("drop_reason").isNotNull()).select(
        F.when(F.col("drop_reason").startswith("shared identifier"), "shared identifier (degree guard)")
        .when(F.col("drop_reason").startswith("merge refused"), "conflict (max_per_profile)")
        .otherwise(F.col("drop_reason"))
        .alias("reason"),
        "id_type",
        "value",
    )
    distinct_dropped = reasons.distinct().groupBy("reason").count().collect()
    report.dropped_identifiers = {r["reason"]: int(r["count"]) for r in distinct_dropped}
    report.conflicts = report.dropped_identifiers.get("conflict (max_per_profile)", 0)
    if identity_map is not None:
        _map_sizes(report, identity_map)
    counts = {r["event"]: int(r["count"]) for r in events.groupBy("event").count().collect()}
    report.merges, report.splits = counts.get("merge", 0), counts.get("split", 0)
    report.new_customers = ids.where("is_new").count()
    if refused is not None:
        report.refused_links = refused.count()


def _record_run(spark: SparkSession, io: _TableIO, report: ResolveReport) -> None:
    row = {
        "run_id": report.run_id,
        "rule_version": report.rules_tag,
        "started_at": report.started_at,
        "finished_at": datetime.now(UTC),
        "records": report.records,
        "resolved_records": report.resolved_records,
        "customers": report.customers,
        "largest_customer": report.largest_customer,
        "matched_share": report.matched_share,
        "merges": report.merges,
        "splits": report.splits,
        "new_customers": report.new_customers,
        "candidate_pairs": report.candidate_pairs,
        "refused_links": report.refused_links,
        "cc_rounds": report.rounds,
        "model_trained": report.model_trained,
        "dropped_identifiers": json.dumps(report.dropped_identifiers, sort_keys=True),
        "size_histogram": json.dumps(report.size_histogram, sort_keys=True),
        "seconds": json.dumps(report.seconds, sort_keys=True),
        "mode": report.mode,
        "mode_reason": report.mode_reason,
        "new_records": report.new_records,
        "scope_records": report.scope_records,
        "bronze_watermark": json.dumps(report.watermark, sort_keys=True) if report.watermark is not None else None,
        "model_trained_at": report.model_trained_at,
    }
    schema = (
        "run_id string, rule_version string, started_at timestamp, finished_at timestamp, records long, "
        "resolved_records long, customers long, largest_customer long, matched_share double, merges long, "
        "splits long, new_customers long, candidate_pairs long, refused_links long, cc_rounds long, "
        "model_trained boolean, dropped_identifiers string, size_histogram string, seconds string, mode string, "
        "mode_reason string, new_records long, scope_records long, bronze_watermark string, model_trained_at string"
    )
    # mergeSchema: runs recorded before incremental runs lack the last columns.
    io.append(spark.createDataFrame([row], schema), tables.IDENTITY_RUNS, merge_schema=True)
