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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdp import lake as tables
from cdp.lake import Lake
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
from spark_jobs.transforms.stable_ids import assign_stable_ids
from spark_jobs.transforms.stitching import merge_links, stitch_identifiers

MODEL_NAME = "identity_fs"
Progress = Callable[[str], None]


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
    progress: Progress | None = None,
    file_format: str = "delta",
    lock_stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> ResolveReport:
    """Resolve every record of the bronze tables to a customer and write the identity tables.

    One run at a time per lake: the run holds ``<lake>/_locks/identity.lock`` (see :mod:`spark_jobs.jobs.locking`)
    and raises :class:`~spark_jobs.jobs.locking.LakeLocked`, naming the holder, while another live run holds it.

    ``file_format="parquet"`` runs the same job on plain Parquet tables at the same paths: for engines without the
    Delta jars (JVM Spark local mode here), used by the engine benchmark only."""
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
        report.seconds[step] = round(now - clock, 2)
        clock = now

    with lake_lock(lake, "identity", run_id=run_id, stale_after=lock_stale_after) as lock:
        try:
            # 1. Identifiers and attributes from every bronze source that exists.
            say("extracting identifiers")
            present = {s: r for s, r in rules.sources.items() if io.exists(tables.bronze(s))}
            bronze = {s: io.read(tables.bronze(s)) for s in present}
            incidence = reduce(
                DataFrame.unionByName, [extract_identifiers(s, bronze[s], r) for s, r in present.items()]
            )
            # Written once: normalisation reads it three times (country hints, distinct values, the join back).
            incidence = checkpoint(incidence, "incidence-raw")
            incidence = normalise_identifiers(incidence, rules, default_region)
            incidence = checkpoint(incidence, "incidence-normalised")
            incidence = checkpoint(guard_shared_identifiers(incidence, rules.degree_guard), "incidence")
            lap("normalise")

            # 2. Deterministic stitching.
            say("stitching identifiers")
            priorities = {t: spec.priority for t, spec in rules.identifier_types.items()}
            limits = {t: spec.max_per_profile for t, spec in rules.identifier_types.items()}
            usable = incidence.where(F.col("drop_reason").isNull())
            stitched = stitch_identifiers(usable, rules.types_by_priority(), limits, checkpoint)
            report.rounds += stitched.rounds
            conflicts = stitched.conflicts.select("node", F.col("reason").alias("_conflict"))
            incidence = checkpoint(
                incidence.join(conflicts, "node", "left")
                .withColumn("drop_reason", F.coalesce("drop_reason", "_conflict"))
                .drop("_conflict"),
                "incidence-final",
            )
            best = checkpoint(best_identifiers(incidence, priorities), "best")
            deterministic = best.join(stitched.assigned.select("node", "component"), "node").select(
                "record_key", "id_type", "component"
            )
            lap("stitch")

            # 3. Probabilistic links between person records in different components.
            say("matching person records")
            assigned, pairs_out, links_refused = _probabilistic(
                spark,
                lake,
                rules,
                bronze,
                present,
                deterministic,
                stitched.assigned,
                limits,
                checkpoint,
                report,
                retrain,
            )
            lap("match")

            # 4. Stable ids and outputs.
            say("assigning stable customer ids")
            final = best.join(assigned.select("node", F.col("component").alias("final_component")), "node")
            final = final.join(
                deterministic.select("record_key", F.col("component").alias("det_component")), "record_key"
            )
            final = checkpoint(final, "final")
            previous = io.read(tables.IDENTITY_MAP) if io.exists(tables.IDENTITY_MAP) else None
            registry = io.read(tables.CUSTOMER_ID_REGISTRY) if io.exists(tables.CUSTOMER_ID_REGISTRY) else None
            prev_records = (
                previous.select(F.concat("source", F.lit(":"), "source_record_id").alias("record_key"), "customer_id")
                if previous is not None
                else None
            )
            ids, events = assign_stable_ids(
                final.select("record_key", F.col("final_component").alias("component")), prev_records, registry, run_id
            )
            # Materialise everything that reads the previous identity map before it is overwritten below.
            ids = checkpoint(ids, "ids")
            events = checkpoint(events, "events")
            link_probability = _link_probability(pairs_out)
            identity_map = _identity_map(final, ids, link_probability, incidence, rules.tag, run_id)
            identity_map = checkpoint(identity_map, "identity_map")
            lap("stable_ids")

            say("writing outputs")
            lock.ensure_held()  # a run whose lock was broken as stale must not write over the run that took it
            now = F.lit(started).cast("timestamp")
            io.overwrite(identity_map, tables.IDENTITY_MAP)
            io.overwrite(
                incidence.withColumn(
                    "status", F.when(F.col("drop_reason").isNull(), "used").otherwise("not used")
                ).withColumn("run_id", F.lit(run_id)),
                tables.IDENTITY_IDENTIFIERS,
            )
            if pairs_out is not None:
                io.overwrite(pairs_out.withColumn("run_id", F.lit(run_id)), tables.IDENTITY_MATCH_PAIRS)
            new_ids = ids.where("is_new").select(
                "customer_id", now.alias("created_run_at"), F.lit(run_id).alias("created_run_id")
            )
            io.append(new_ids, tables.CUSTOMER_ID_REGISTRY)
            history = events.select(
                F.lit(run_id).alias("run_id"),
                F.lit(rules.tag).alias("rule_version"),
                now.alias("occurred_at"),
                "event",
                "customer_id",
                "other_customer_ids",
                "records",
                F.when(F.col("event") == "merge", F.lit("records of the other ids are now linked to this customer"))
                .otherwise(F.lit("records of this customer now resolve to the other ids"))
                .alias("evidence"),
            )
            io.append(history, tables.IDENTITY_MERGE_HISTORY)
            _collect_stats(report, incidence, identity_map, events, ids, links_refused)
            lap("write")
            _record_run(spark, io, report)
            return report
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            processes.shutdown()  # the normalisers' worker processes, if the engine needed them


@dataclass(frozen=True)
class _TableIO:
    spark: SparkSession
    lake: Lake
    file_format: str

    def exists(self, table: tables.Table) -> bool:
        if self.file_format == "delta":
            return self.lake.exists(table)
        return self.lake.path(table).is_dir()

    def read(self, table: tables.Table) -> DataFrame:
        return self.spark.read.format(self.file_format).load(self.lake.uri(table))

    def overwrite(self, df: DataFrame, table: tables.Table) -> None:
        df.write.format(self.file_format).mode("overwrite").option("overwriteSchema", "true").save(self.lake.uri(table))

    def append(self, df: DataFrame, table: tables.Table) -> None:
        if df.limit(1).count() == 0:  # nothing to add (and Sail fails to write some empty frames)
            return
        df.write.format(self.file_format).mode("append").save(self.lake.uri(table))


def _probabilistic(
    spark: SparkSession,
    lake: Lake,
    rules: IdentityRules,
    bronze: dict[str, DataFrame],
    present: dict[str, Any],
    deterministic: DataFrame,
    assigned: DataFrame,
    limits: dict[str, int],
    checkpoint: Callable[[DataFrame, str], DataFrame],
    report: ResolveReport,
    retrain: bool,
) -> tuple[DataFrame, DataFrame | None, DataFrame | None]:
    probabilistic = rules.probabilistic
    parts = [a for s, r in present.items() if (a := extract_attributes(s, bronze[s], r)) is not None]
    if not parts:
        return assigned, None, None
    attributes = normalise_attributes(reduce(DataFrame.unionByName, parts))
    record_component = deterministic.select("record_key", "component")
    profiles = checkpoint(matching.person_profiles(attributes, record_component), "profiles")
    # Nothing to compare: skip (Sail also fails on some joins over empty inputs).
    if profiles.limit(2).count() < 2:
        return assigned, None, None
    pairs = checkpoint(matching.candidate_pairs(profiles, probabilistic.blocking_rules), "pairs")
    if pairs.limit(1).count() == 0:
        return assigned, None, None
    vectors = checkpoint(matching.comparison_vectors(pairs, profiles, probabilistic.comparisons), "vectors")
    model = _load_model(lake, rules) if not retrain else None
    tf = {
        f: checkpoint(t, f"tf-{f}") for f, t in matching.term_frequencies(profiles, probabilistic.comparisons).items()
    }
    if model is None:
        model = _train(spark, profiles, vectors, rules, checkpoint)
        path = lake.model_path(MODEL_NAME)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
        report.model_trained = True
    component = profiles.select("profile_key", "component")
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
    return checkpoint(merged, "assigned-final"), pairs_out, refused


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


def _collect_stats(
    report: ResolveReport,
    incidence: DataFrame,
    identity_map: DataFrame,
    events: DataFrame,
    ids: DataFrame,
    refused: DataFrame | None,
) -> None:
    report.records = incidence.select("record_key").distinct().count()
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
    # sum(1), not count(*): Sail rejects aggregating a non-nullable count again over a one-row table.
    sizes = identity_map.groupBy("customer_id").agg(F.sum(F.lit(1)).alias("size"))
    summary = sizes.agg(
        F.count("*").alias("customers"),
        F.sum("size").alias("records"),
        F.max("size").alias("largest"),
        F.sum(F.when(F.col("size") > 1, F.col("size")).otherwise(0)).alias("multi"),
    ).collect()[0]
    report.customers = int(summary["customers"] or 0)
    report.resolved_records = int(summary["records"] or 0)
    report.largest_customer = int(summary["largest"] or 0)
    report.records_in_multi_record_customers = int(summary["multi"] or 0)
    histogram = sizes.groupBy(_bucket(F.col("size")).alias("bucket")).count().collect()
    report.size_histogram = {r["bucket"]: int(r["count"]) for r in histogram}
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
    }
    schema = (
        "run_id string, rule_version string, started_at timestamp, finished_at timestamp, records long, "
        "resolved_records long, customers long, largest_customer long, matched_share double, merges long, "
        "splits long, new_customers long, candidate_pairs long, refused_links long, cc_rounds long, "
        "model_trained boolean, dropped_identifiers string, size_histogram string, seconds string"
    )
    io.append(spark.createDataFrame([row], schema), tables.IDENTITY_RUNS)
