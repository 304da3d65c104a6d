"""Deterministic stitching with per-profile limits, on inline identifier rows."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from spark_jobs.transforms.identifiers import best_identifiers
from spark_jobs.transforms.local_stitching import stitch_identifiers_locally
from spark_jobs.transforms.stitching import stitch_identifiers

pytestmark = pytest.mark.transforms

TYPES = ["customer_ref", "crm_contact_id", "email", "phone", "anonymous_id"]
LIMITS = {"customer_ref": 1, "crm_contact_id": 5, "email": 5, "phone": 2, "anonymous_id": 200}


@pytest.fixture(params=["spark", "driver"])
def stitch(request):
    """Both implementations: on Spark (big scopes, full runs) and on the driver (small incremental scopes)."""
    return stitch_identifiers if request.param == "spark" else stitch_identifiers_locally


def _stitch(stitch, spark, checkpoint, records):
    """records: {record_key: [(id_type, value), ...]} -> ({record_key: component}, {value: conflict reason})."""
    rows, nodes = [], {}
    for record, identifiers in records.items():
        for id_type, value in identifiers:
            node = nodes.setdefault((id_type, value), len(nodes) + 1)
            rows.append((record, id_type, node))
    usable = spark.createDataFrame(rows, "record_key string, id_type string, node long")
    result = stitch(usable, TYPES, LIMITS, checkpoint)
    component = {r.node: r.component for r in result.assigned.collect()}
    by_node = {n: v for (_, v), n in nodes.items()}
    conflicts = {by_node[r.node]: r.reason for r in result.conflicts.collect()}
    record_component = {}
    for record, identifiers in records.items():
        comps = {component.get(nodes[i]) for i in identifiers} - {None}
        assert len(comps) <= 1, f"{record} spans components {comps}"
        record_component[record] = comps.pop() if comps else None
    return record_component, conflicts


def test_shared_identifiers_stitch_records_of_one_person(stitch, spark, checkpoint):
    found, conflicts = _stitch(
        stitch,
        spark,
        checkpoint,
        {
            "orders:1": [("customer_ref", "C1"), ("email", "an@x.vn")],
            "crm:1": [("crm_contact_id", "K1"), ("email", "an@x.vn"), ("phone", "+84912345678")],
            "pos:1": [("phone", "+84912345678")],
            "events:1": [("anonymous_id", "a1"), ("customer_ref", "C1")],
            "events:2": [("anonymous_id", "a1")],
            "orders:2": [("customer_ref", "C2")],
        },
    )
    assert conflicts == {}
    assert len({found[r] for r in ("orders:1", "crm:1", "pos:1", "events:1", "events:2")}) == 1
    assert found["orders:2"] != found["orders:1"]


def test_family_email_across_four_accounts_merges_nobody(stitch, spark, checkpoint):
    records = {f"orders:{i}": [("customer_ref", f"C{i}"), ("email", "giadinh.nguyen@gmail.com")] for i in range(4)}
    records["consent:1"] = [("email", "giadinh.nguyen@gmail.com")]
    found, conflicts = _stitch(stitch, spark, checkpoint, records)
    assert len({found[f"orders:{i}"] for i in range(4)}) == 4
    assert "giadinh.nguyen@gmail.com" in conflicts
    assert "4 customer_ref" in conflicts["giadinh.nguyen@gmail.com"]
    assert found["consent:1"] is None  # carried only by the refused email: no customer rather than a wrong one


def test_anonymous_id_identified_as_two_users_stays_apart(stitch, spark, checkpoint):
    found, conflicts = _stitch(
        stitch,
        spark,
        checkpoint,
        {
            "events:1": [("anonymous_id", "tablet"), ("customer_ref", "C1")],
            "events:2": [("anonymous_id", "tablet"), ("customer_ref", "C2")],
            "events:3": [("anonymous_id", "tablet")],
        },
    )
    assert found["events:1"] != found["events:2"]
    assert set(conflicts) == {"tablet"}
    assert found["events:3"] is None


def test_chain_a_b_c_where_only_a_c_is_false(stitch, spark, checkpoint):
    # A and B share an email, B and C a phone; A and C are two shop accounts, so the phone may not join them.
    found, conflicts = _stitch(
        stitch,
        spark,
        checkpoint,
        {
            "A": [("customer_ref", "C1"), ("email", "an@x.vn")],
            "B": [("crm_contact_id", "K1"), ("email", "an@x.vn"), ("phone", "+84912345678")],
            "C": [("customer_ref", "C2"), ("phone", "+84912345678")],
        },
    )
    assert found["A"] == found["B"]
    assert found["C"] != found["A"]
    assert set(conflicts) == {"+84912345678"}


def test_a_chain_of_acceptable_links_that_exceeds_a_limit_is_refused(stitch, spark, checkpoint):
    # Each phone alone joins one account to a CRM contact; together, in one round, they would join two accounts.
    found, conflicts = _stitch(
        stitch,
        spark,
        checkpoint,
        {
            "A": [("customer_ref", "C1"), ("phone", "+84900000001")],
            "K": [("crm_contact_id", "K1"), ("phone", "+84900000001"), ("phone", "+84900000002")],
            "B": [("customer_ref", "C2"), ("phone", "+84900000002")],
        },
    )
    assert found["A"] != found["B"]
    assert conflicts


def test_the_driver_gives_the_spark_paths_components_and_conflicts_on_a_tangled_graph(spark, checkpoint):
    # 400 records over a few shared values of every type, small limits: bridges, chains and refusals everywhere.
    rng = random.Random(7)
    rows, nodes = set(), {}
    for record in range(400):
        for id_type, values in (("customer_ref", 150), ("email", 120), ("phone", 60), ("anonymous_id", 90)):
            for _ in range(rng.choice((0, 1, 1, 2))):
                key = (id_type, rng.randrange(values))
                rows.add((f"r{record}", id_type, nodes.setdefault(key, rng.randrange(-(2**62), 2**62))))
    usable = spark.createDataFrame(sorted(rows), "record_key string, id_type string, node long")
    limits = {"customer_ref": 1, "email": 3, "phone": 2, "anonymous_id": 4}

    def outcome(result):
        return (
            sorted(tuple(r) for r in result.assigned.select("node", "id_type", "component").collect()),
            sorted(tuple(r) for r in result.conflicts.select("node", "id_type", "reason").collect()),
        )

    on_spark = outcome(stitch_identifiers(usable, TYPES, limits, checkpoint))
    on_driver = outcome(stitch_identifiers_locally(usable, TYPES, limits, checkpoint))
    assert on_spark[1], "the case must refuse some identifiers to test the limits"
    assert len({c for _, _, c in on_spark[0]}) > 10
    assert on_driver == on_spark

    # Each record's best identifier, from the rows the driver collected: as best_identifiers gives it on Spark from
    # the incidence with the refused identifiers dropped.
    priorities = {t: rank for rank, t in enumerate(TYPES, start=1)}
    driver = stitch_identifiers_locally(usable, TYPES, limits, checkpoint, priorities=priorities)
    refused = driver.conflicts.select("node", F.col("reason").alias("drop_reason"))
    incidence = usable.join(refused, "node", "left")
    expected = sorted(tuple(r) for r in best_identifiers(incidence, priorities).collect())
    assert driver.best is not None and expected
    assert sorted(tuple(r) for r in driver.best.select("record_key", "node", "id_type").collect()) == expected
