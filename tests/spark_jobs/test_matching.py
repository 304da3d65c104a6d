"""Fellegi-Sunter pieces on inline data: blocking, comparison levels, EM, scoring with term frequencies."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs.rules import load_rules
from spark_jobs.transforms import matching

pytestmark = pytest.mark.transforms

RULES = load_rules().probabilistic
SCHEMA = (
    "profile_key string, component long, first_name string, last_name string, date_of_birth date, address string, "
    "city string, postcode string"
)
DOB = dt.date(1990, 5, 1)


def _profiles(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def test_blocking_yields_each_pair_once_with_its_first_rule(spark):
    profiles = _profiles(
        spark,
        [
            ("a", 1, "thi dao", "nguyen", DOB, "12 le loi", "hcm", "70000"),
            ("b", 2, "thi dao", "nguyen", DOB, "12 le loi", "hcm", "70000"),
            ("c", 3, "van an", "tran", dt.date(1985, 1, 1), None, "hcm", "70000"),
        ],
    )
    pairs = {
        (r.left_key, r.right_key): r.rule for r in matching.candidate_pairs(profiles, RULES.blocking_rules).collect()
    }
    assert pairs == {("a", "b"): 0}


def test_comparison_levels_null_strongest_and_else(spark):
    profiles = _profiles(
        spark,
        [
            ("a", 1, "quang thanh", "nguyen", DOB, None, "hcm", "70000"),
            ("b", 2, "quang than", "nguyen", dt.date(1990, 5, 2), "1 x", "ha noi", "70000"),
        ],
    )
    pairs = spark.createDataFrame([("a", "b", 0)], "left_key string, right_key string, rule int")
    row = matching.comparison_vectors(pairs, profiles, RULES.comparisons).collect()[0]
    assert row.g_first_name == 1  # one letter off: similar >= 0.88, not exact
    assert row.g_last_name == 0
    assert row.g_date_of_birth == 1  # same year and month
    assert row.g_address == -1  # no evidence when a side is null
    assert row.g_city == 1  # the "else" level (city has one level)
    assert row.g_postcode == 0


def test_em_separates_matches_from_non_matches():
    fields = ["first_name", "date_of_birth"]
    n_levels = {"first_name": 2, "date_of_birth": 2}
    u = {"first_name": [0.01, 0.99], "date_of_birth": [0.001, 0.999]}
    # rule 0 blocks on postcode (not a compared field): 300 pairs agree on both fields, 700 on neither.
    patterns = [(0, (0, 0), 300), (0, (1, 1), 690), (0, (0, 1), 5), (0, (1, 0), 5)]
    m, details = matching.expectation_maximisation(
        patterns, fields, n_levels, u, (("postcode",),), max_iterations=50, tolerance=1e-6
    )
    assert m["first_name"][0] > 0.95 and m["date_of_birth"][0] > 0.95
    assert details["sessions"][0]["lambda"] == pytest.approx(0.3, abs=0.02)
    assert matching.estimate_lambda(patterns, fields, m, u) == pytest.approx(0.3, abs=0.02)


def _model(prior=1e-4):
    fields = matching.level_labels(RULES.comparisons)
    m = {f: [0.9] + [0.09 / (len(v) - 1)] * (len(v) - 2) + [0.01] for f, v in fields.items()}
    u = {f: [0.001] + [0.01] * (len(v) - 2) + [0.98] for f, v in fields.items()}
    return matching.FellegiSunterModel(fields, m, u, prior, "test", "now", {})


def test_scoring_uses_term_frequencies_and_keeps_per_field_evidence(spark):
    rows = [(f"n{i}", i, "van an", "nguyen", None, None, None, None) for i in range(50)]
    rows += [("r1", 100, "van an", "zylberstein", None, None, None, None)]
    rows += [("r2", 101, "van an", "zylberstein", None, None, None, None)]
    profiles = _profiles(spark, rows)
    pairs = spark.createDataFrame([("n0", "n1", 0), ("r1", "r2", 0)], "left_key string, right_key string, rule int")
    model = _model()
    tf = matching.term_frequencies(profiles, RULES.comparisons)
    scored = matching.score_pairs(matching.comparison_vectors(pairs, profiles, RULES.comparisons), model, tf)
    by_pair = {
        r.left_key: r
        for r in scored.select("left_key", "w_last_name", "match_weight", matching.evidence(model).alias("e")).collect()
    }
    # agreeing on a rare family name is stronger evidence than agreeing on the most common one
    assert by_pair["r1"].w_last_name > by_pair["n0"].w_last_name + 3
    assert by_pair["r1"].match_weight > by_pair["n0"].match_weight
    assert "last_name exact" in by_pair["r1"].e and "date_of_birth no data (0.0)" in by_pair["r1"].e


def test_model_round_trips_through_json():
    model = _model()
    again = matching.FellegiSunterModel.from_json(model.to_json())
    assert again.m == model.m and again.u == model.u and again.fields == model.fields


def test_random_pairs_are_the_same_for_a_seed_however_the_profiles_are_laid_out(spark):
    rows = [(f"p{i:04d}", i, "an", "nguyen", None, None, None, None) for i in range(400)]
    one_partition = _profiles(spark, rows).coalesce(1)
    shuffled = _profiles(spark, list(reversed(rows))).repartition(5)

    def pairs(profiles, seed):
        return sorted((r.left_key, r.right_key) for r in matching.random_pairs(profiles, 300, seed=seed).collect())

    first = pairs(one_partition, 7)
    assert first == pairs(one_partition, 7) == pairs(shuffled, 7)
    assert len(first) == len(set(first)) == 300
    assert all(left != right for left, right in first)
    assert pairs(one_partition, 8) != first  # another seed draws other pairs


def test_blocking_neighbours_are_the_profiles_a_candidate_pair_could_join_to_the_attributes(spark):
    profiles = _profiles(
        spark,
        [
            ("a", 1, "thi dao", "nguyen", DOB, "12 le loi", "hcm", "70000"),  # last name + birth date
            ("b", 2, "thi mai", "nguyen", dt.date(1994, 2, 3), None, "hcm", "70000"),  # last name only: not blocked
            ("c", 3, "thi dao", "tran", DOB, None, "hn", "10000"),  # first name + birth date
            ("d", 4, "van an", "le", None, None, None, None),
        ],
    )
    attributes = spark.createDataFrame(
        [
            ("new:1", None, "thi dao", "nguyen", "1 x", "hcm", DOB, "99999"),
            ("new:2", None, None, "le", None, None, None, None),  # one name only: never a profile
        ],
        "record_key string, observed_at timestamp, first_name string, last_name string, address string, "
        "city string, date_of_birth date, postcode string",
    )
    neighbours = {
        r.profile_key for r in matching.blocking_neighbours(profiles, attributes, RULES.blocking_rules).collect()
    }
    assert neighbours == {"a", "c"}
    # The same profiles as the candidate pairs between the attributes (made a profile) and the profiles.
    new = _profiles(spark, [("new", 9, "thi dao", "nguyen", DOB, "1 x", "hcm", "99999")])
    pairs = matching.candidate_pairs_touching(profiles.unionByName(new), new, RULES.blocking_rules).collect()
    assert {r.left_key if r.right_key == "new" else r.right_key for r in pairs} == neighbours
