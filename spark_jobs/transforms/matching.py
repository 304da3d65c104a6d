"""Probabilistic record linkage (Fellegi-Sunter) in the DataFrame API, trained without labels.

The flow follows Splink's, on the project's own Spark engine:

1. ``person_profiles``: distinct person attributes per component (a customer's repeated identify calls are one
   profile), so work grows with people, not with events.
2. ``candidate_pairs``: pairs that agree exactly on at least one blocking rule.
3. ``comparison_vectors``: per field, the first comparison level that holds (0 = strongest); -1 when either side is
   null (no evidence), ``len(levels)`` when none holds (disagreement).
4. Training: u (chance agreement) from random pairs; m (agreement among matches) by expectation-maximisation on the
   pattern counts of each blocking rule's pairs, leaving out that rule's own fields (they agree by construction),
   as Splink does. EM runs on the driver over a few hundred distinct patterns, not over pairs.
5. ``score_pairs``: match weight = log2 prior odds + sum of log2 Bayes factors (m/u) per field; exact name matches
   use the value's term frequency as u (agreeing on a rare name says more than on "nguyen"). Every pair keeps its
   per-field levels and weights: the evidence ``cdp identity explain`` shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_jobs.rules import Comparison, ComparisonLevel, Probabilistic

ATTRIBUTE_FIELDS = ("first_name", "last_name", "date_of_birth", "address", "city", "postcode")
MIN_PROBABILITY = 1e-6  # keeps m and u away from 0 and 1, so every weight is finite


def person_profiles(attributes: DataFrame, record_component: DataFrame) -> DataFrame:
    """(profile_key, component, attributes...) with one row per distinct attribute combination per component;
    profile_key is the smallest record key that carries it. Records without both names are left out."""
    named = attributes.where(F.col("first_name").isNotNull() & F.col("last_name").isNotNull())
    return (
        named.join(record_component, "record_key")
        .groupBy("component", *ATTRIBUTE_FIELDS)
        .agg(F.min("record_key").alias("profile_key"))
        .select("profile_key", "component", *ATTRIBUTE_FIELDS)
    )


def candidate_pairs(profiles: DataFrame, blocking_rules: tuple[tuple[str, ...], ...]) -> DataFrame:
    """(left_key, right_key, rule): pairs agreeing exactly on a rule's fields, each pair once with the first rule
    that produced it (rule = its index)."""
    parts = []
    for index, fields in enumerate(blocking_rules):
        left = profiles.select(F.col("profile_key").alias("left_key"), *[F.col(f).alias(f"_b{f}") for f in fields])
        right = profiles.select(F.col("profile_key").alias("right_key"), *[F.col(f).alias(f"_b{f}") for f in fields])
        keyed = [f"_b{f}" for f in fields]
        left = left.where(reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keyed]))
        pairs = left.join(right, keyed).where(F.col("left_key") < F.col("right_key"))
        parts.append(pairs.select("left_key", "right_key", F.lit(index).alias("rule")))
    union = reduce(DataFrame.unionByName, parts)
    return union.groupBy("left_key", "right_key").agg(F.min("rule").alias("rule"))


def candidate_pairs_touching(
    profiles: DataFrame, focus: DataFrame, blocking_rules: tuple[tuple[str, ...], ...]
) -> DataFrame:
    """The rows of ``candidate_pairs(profiles)`` with at least one side in ``focus`` (profile_key), without
    comparing the other profiles among themselves: an incremental run's pairs."""
    focused = profiles.join(focus.select("profile_key").distinct(), "profile_key", "left_semi")
    parts = []
    for index, fields in enumerate(blocking_rules):
        keyed = [f"_b{f}" for f in fields]
        left = focused.select(F.col("profile_key").alias("_a"), *[F.col(f).alias(f"_b{f}") for f in fields])
        right = profiles.select(F.col("profile_key").alias("_b"), *[F.col(f).alias(f"_b{f}") for f in fields])
        left = left.where(reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keyed]))
        pairs = left.join(right, keyed).where(F.col("_a") != F.col("_b"))
        parts.append(
            pairs.select(
                F.least("_a", "_b").alias("left_key"),
                F.greatest("_a", "_b").alias("right_key"),
                F.lit(index).alias("rule"),
            )
        )
    union = reduce(DataFrame.unionByName, parts)
    return union.groupBy("left_key", "right_key").agg(F.min("rule").alias("rule"))


def blocking_neighbours(
    profiles: DataFrame, attributes: DataFrame, blocking_rules: tuple[tuple[str, ...], ...]
) -> DataFrame:
    """(profile_key): the ``profiles`` that agree exactly with some row of ``attributes`` (normalised person
    attributes, e.g. of new records) on every field of a blocking rule, i.e. every profile that
    ``candidate_pairs`` could pair with a profile holding those attributes. Rows without both names are left out,
    as :func:`person_profiles` leaves them out."""
    named = attributes.where(F.col("first_name").isNotNull() & F.col("last_name").isNotNull())
    parts = []
    for fields in blocking_rules:
        keys = named.where(reduce(lambda a, b: a & b, [F.col(f).isNotNull() for f in fields]))
        parts.append(profiles.join(keys.select(*fields).distinct(), list(fields), "left_semi").select("profile_key"))
    return reduce(DataFrame.unionByName, parts).distinct()


def training_pairs(profiles: DataFrame, training_rules: tuple[tuple[str, ...], ...], max_pairs: int) -> DataFrame:
    """(left_key, right_key, rule) for EM: all pairs within each rule's blocks, whole blocks sampled (by a hash of
    the block key) down to about ``max_pairs`` per rule. Pairs are not de-duplicated across rules: each rule is
    its own EM session."""
    parts = []
    for index, fields in enumerate(training_rules):
        keyed = profiles.where(reduce(lambda a, b: a & b, [F.col(f).isNotNull() for f in fields])).withColumn(
            "_block", F.xxhash64(*[F.col(f).cast("string") for f in fields])
        )
        sizes = keyed.groupBy("_block").agg(F.count("*").alias("_n"))
        total = sizes.agg(F.sum(F.col("_n") * (F.col("_n") - 1) / 2)).collect()[0][0] or 0
        modulus = max(1, math.ceil(total / max_pairs))
        sampled = keyed.where(F.pmod("_block", F.lit(modulus)) == 0)
        left = sampled.select(F.col("profile_key").alias("left_key"), "_block")
        right = sampled.select(F.col("profile_key").alias("right_key"), "_block")
        pairs = left.join(right, "_block").where(F.col("left_key") < F.col("right_key"))
        parts.append(pairs.select("left_key", "right_key", F.lit(index).alias("rule")))
    return reduce(DataFrame.unionByName, parts)


def _level_condition(level: ComparisonLevel, left: Column, right: Column) -> Column:
    if level.exact:
        return left == right
    if level.similarity is not None:
        longer = F.greatest(F.length(left), F.length(right))
        return (1 - F.levenshtein(left, right) / longer) >= level.similarity
    if level.same_year_month:
        return (F.year(left) == F.year(right)) & (F.month(left) == F.month(right))
    assert level.edit_distance is not None
    return F.levenshtein(left.cast("string"), right.cast("string")) <= level.edit_distance


def _gamma(comparison: Comparison, left: Column, right: Column) -> Column:
    expression = F.when(left.isNull() | right.isNull(), F.lit(-1))
    for index, level in enumerate(comparison.levels):
        expression = expression.when(_level_condition(level, left, right), F.lit(index))
    return expression.otherwise(F.lit(len(comparison.levels)))


def comparison_vectors(pairs: DataFrame, profiles: DataFrame, comparisons: dict[str, Comparison]) -> DataFrame:
    """Add ``g_<field>`` (comparison level per field) and the two sides' values of TF-adjusted fields."""
    left = profiles.select(F.col("profile_key").alias("left_key"), *[F.col(f).alias(f"l_{f}") for f in comparisons])
    right = profiles.select(F.col("profile_key").alias("right_key"), *[F.col(f).alias(f"r_{f}") for f in comparisons])
    joined = pairs.join(left, "left_key").join(right, "right_key")
    gammas = [_gamma(c, F.col(f"l_{f}"), F.col(f"r_{f}")).alias(f"g_{f}") for f, c in comparisons.items()]
    tf_values = [F.col(f"l_{f}").alias(f"v_{f}") for f, c in comparisons.items() if c.tf_adjust]
    return joined.select(*pairs.columns, *gammas, *tf_values)


def random_pairs(profiles: DataFrame, pairs: int, seed: int = 42) -> DataFrame:
    """``pairs`` random (left_key, right_key) pairs, for the chance-agreement probabilities.

    Deterministic for a given seed and set of profiles, however they are partitioned or ordered: each side is the
    ~sqrt(2 * pairs) profiles with the smallest seeded hash of their key (a different seed per side), and the pairs
    kept are those with the smallest seeded hash of the two keys. Hashes stand in for random draws; keys break ties.
    """
    side = max(2, int(math.sqrt(pairs * 2)) + 1)

    def pick(seed_of_side: int, name: str) -> DataFrame:
        keyed = profiles.select(F.col("profile_key").alias(name))
        return keyed.orderBy(F.xxhash64(name, F.lit(seed_of_side)), name).limit(side)

    left, right = pick(seed, "left_key"), pick(seed + 1, "right_key")
    crossed = left.crossJoin(right).where(F.col("left_key") != F.col("right_key"))
    return crossed.orderBy(F.xxhash64("left_key", "right_key", F.lit(seed)), "left_key", "right_key").limit(pairs)


def level_counts(vectors: DataFrame, comparisons: dict[str, Comparison]) -> dict[str, dict[int, int]]:
    """Per field, how many pairs fall in each level (nulls left out)."""
    out: dict[str, dict[int, int]] = {}
    for field in comparisons:
        rows = vectors.where(F.col(f"g_{field}") >= 0).groupBy(f"g_{field}").count().collect()
        out[field] = {int(r[0]): int(r[1]) for r in rows}
    return out


def pattern_counts(vectors: DataFrame, comparisons: dict[str, Comparison]) -> list[tuple[int, tuple[int, ...], int]]:
    """(rule, gamma pattern, pairs) for EM."""
    columns = [f"g_{f}" for f in comparisons]
    rows = vectors.groupBy("rule", *columns).count().collect()
    return [(int(r["rule"]), tuple(int(r[c]) for c in columns), int(r["count"])) for r in rows]


def term_frequencies(profiles: DataFrame, comparisons: dict[str, Comparison]) -> dict[str, DataFrame]:
    """Per TF-adjusted field: (value, tf) with tf = the value's share of non-null values."""
    out = {}
    for field, comparison in comparisons.items():
        if not comparison.tf_adjust:
            continue
        values = profiles.where(F.col(field).isNotNull()).groupBy(F.col(field).alias("value")).count()
        total = values.agg(F.sum("count")).collect()[0][0] or 1
        out[field] = values.select("value", (F.col("count") / F.lit(total)).alias("tf"))
    return out


@dataclass
class FellegiSunterModel:
    """The trained model, saved as JSON and re-used until retrained."""

    fields: dict[str, list[str]]  # field -> level labels (strongest first; the last is "else")
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior_match_probability: float
    rules_tag: str
    trained_at: str
    training: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": "fellegi-sunter",
            "rules_tag": self.rules_tag,
            "trained_at": self.trained_at,
            "prior_match_probability": self.prior_match_probability,
            "fields": {
                f: [{"level": lab, "m": self.m[f][i], "u": self.u[f][i]} for i, lab in enumerate(self.fields[f])]
                for f in self.fields
            },
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FellegiSunterModel:
        fields = {f: [lv["level"] for lv in levels] for f, levels in data["fields"].items()}
        return cls(
            fields=fields,
            m={f: [lv["m"] for lv in levels] for f, levels in data["fields"].items()},
            u={f: [lv["u"] for lv in levels] for f, levels in data["fields"].items()},
            prior_match_probability=data["prior_match_probability"],
            rules_tag=data["rules_tag"],
            trained_at=data["trained_at"],
            training=data["training"],
        )


def _clip(p: float) -> float:
    return min(1 - MIN_PROBABILITY, max(MIN_PROBABILITY, p))


def u_probabilities(counts: dict[str, dict[int, int]], comparisons: dict[str, Comparison]) -> dict[str, list[float]]:
    out = {}
    for field, comparison in comparisons.items():
        n_levels = len(comparison.levels) + 1
        total = sum(counts.get(field, {}).values())
        # add-one smoothing: a level never seen among random pairs is rare, not impossible
        out[field] = [_clip((counts.get(field, {}).get(i, 0) + 1) / (total + n_levels)) for i in range(n_levels)]
    return out


def expectation_maximisation(
    patterns: list[tuple[int, tuple[int, ...], int]],
    fields: list[str],
    n_levels: dict[str, int],
    u: dict[str, list[float]],
    blocking_rules: tuple[tuple[str, ...], ...],
    *,
    max_iterations: int,
    tolerance: float,
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """m probabilities by EM on pattern counts, one session per blocking rule without the rule's own fields; a
    field's m is the pair-weighted mean over the sessions that estimated it. u stays fixed (from random pairs)."""
    sums: dict[str, list[float]] = {f: [0.0] * n_levels[f] for f in fields}
    weights: dict[str, float] = dict.fromkeys(fields, 0.0)
    sessions = []
    for rule_index, rule_fields in enumerate(blocking_rules):
        session = [(g, c) for r, g, c in patterns if r == rule_index]
        free = [i for i, f in enumerate(fields) if f not in rule_fields]
        if not session or not free:
            continue
        m = {fields[i]: _initial_m(n_levels[fields[i]]) for i in free}
        lam = 0.5
        iterations = 0
        for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported below)
            expected = {fields[i]: [0.0] * n_levels[fields[i]] for i in free}
            total_w = total_c = 0.0
            for gamma, count in session:
                pm, pu = lam, 1 - lam
                for i in free:
                    level = gamma[i]
                    if level >= 0:
                        pm *= m[fields[i]][level]
                        pu *= u[fields[i]][level]
                w = pm / (pm + pu)
                total_w += w * count
                total_c += count
                for i in free:
                    if gamma[i] >= 0:
                        expected[fields[i]][gamma[i]] += w * count
            new_m = {}
            for f, levels in expected.items():
                s = sum(levels)
                new_m[f] = [_clip(x / s) if s > 0 else m[f][j] for j, x in enumerate(levels)]
            new_lam = _clip(total_w / total_c)
            change = max(abs(new_m[f][j] - m[f][j]) for f in new_m for j in range(len(new_m[f])))
            m, lam = new_m, new_lam
            if change < tolerance:
                break
        sessions.append(
            {"blocking_rule": list(rule_fields), "pairs": int(total_c), "iterations": iterations, "lambda": lam}
        )
        for f, levels in m.items():
            for j, x in enumerate(levels):
                sums[f][j] += x * total_c
            weights[f] += total_c
    m_final = {}
    for f in fields:
        if weights[f] > 0:
            m_final[f] = [_clip(x / weights[f]) for x in sums[f]]
        else:  # a field every session blocked on: fall back to a conservative guess
            m_final[f] = _initial_m(n_levels[f])
    return m_final, {"sessions": sessions}


def estimate_lambda(
    patterns: list[tuple[int, tuple[int, ...], int]],
    fields: list[str],
    m: dict[str, list[float]],
    u: dict[str, list[float]],
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> float:
    """The share of matches among the given pairs, with m and u fixed (EM on λ alone)."""
    lam, total = 0.5, sum(c for _, _, c in patterns)
    if not total:
        return 0.0
    ratios = []
    for _, gamma, count in patterns:
        pm = pu = 1.0
        for i, f in enumerate(fields):
            if gamma[i] >= 0:
                pm *= m[f][gamma[i]]
                pu *= u[f][gamma[i]]
        ratios.append((pm, pu, count))
    for _ in range(max_iterations):
        new = sum(c * lam * pm / (lam * pm + (1 - lam) * pu) for pm, pu, c in ratios) / total
        if abs(new - lam) < tolerance:
            return new
        lam = new
    return lam


def _initial_m(n_levels: int) -> list[float]:
    # most matches agree exactly; the rest spread over weaker levels, a little disagreement
    weights = [0.8] + [0.15 / max(1, n_levels - 2)] * (n_levels - 2) + [0.05]
    return [w / sum(weights) for w in weights]


def score_pairs(vectors: DataFrame, model: FellegiSunterModel, tf: dict[str, DataFrame]) -> DataFrame:
    """Add ``w_<field>`` (log2 Bayes factor, 0 without evidence), ``match_weight`` and ``match_probability``."""
    scored = vectors
    for field, labels in model.fields.items():
        gamma = F.col(f"g_{field}")
        weight = F.lit(0.0)
        for level in range(len(labels)):
            bf = math.log2(model.m[field][level] / model.u[field][level])
            weight = F.when(gamma == level, F.lit(bf)).otherwise(weight)
        if field in tf:
            # exact agreement on a value: u is that value's frequency, not the average over all values
            freq = tf[field].select(F.col("value").alias(f"v_{field}"), F.col("tf").alias(f"_tf_{field}"))
            scored = scored.join(F.broadcast(freq), f"v_{field}", "left")
            tf_weight = F.log2(F.lit(model.m[field][0]) / F.greatest(F.col(f"_tf_{field}"), F.lit(MIN_PROBABILITY)))
            weight = F.when((gamma == 0) & F.col(f"_tf_{field}").isNotNull(), tf_weight).otherwise(weight)
        scored = scored.withColumn(f"w_{field}", weight)
    prior = model.prior_match_probability
    total = reduce(lambda a, b: a + b, [F.col(f"w_{f}") for f in model.fields], F.lit(math.log2(prior / (1 - prior))))
    return (
        scored.withColumn("match_weight", total)
        .withColumn("match_probability", 1 - 1 / (1 + F.pow(F.lit(2.0), F.col("match_weight"))))
        .drop(*[f"_tf_{f}" for f in tf])
    )


def evidence(model: FellegiSunterModel) -> Column:
    """A readable account of a scored pair: 'first_name exact (+7.1), date_of_birth else (-6.3), ...'."""
    parts = []
    for field, labels in model.fields.items():
        gamma = F.col(f"g_{field}")
        label = F.lit("no data")
        for level, text in enumerate(labels):
            label = F.when(gamma == level, F.lit(text)).otherwise(label)
        parts.append(
            F.concat(F.lit(f"{field} "), label, F.lit(" ("), F.format_number(F.col(f"w_{field}"), 1), F.lit(")"))
        )
    return F.concat_ws(", ", *parts)


def level_labels(comparisons: dict[str, Comparison]) -> dict[str, list[str]]:
    return {f: [lv.label for lv in c.levels] + ["else"] for f, c in comparisons.items()}


def prior_from_training(probabilistic: Probabilistic, candidate_matches: float, profiles: int) -> float:
    """λ over all pairs: the matches EM expects among candidates, over all possible pairs (at least the rules'
    floor, so a tiny training set cannot make the prior absurdly high or low)."""
    all_pairs = max(1.0, profiles * (profiles - 1) / 2)
    return _clip(max(candidate_matches / all_pairs, probabilistic.prior_match_probability * 1e-3))
