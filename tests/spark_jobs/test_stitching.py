"""Deterministic stitching with per-profile limits, on inline identifier rows."""

from __future__ import annotations

import pytest

from spark_jobs.transforms.stitching import stitch_identifiers

pytestmark = pytest.mark.transforms

TYPES = ["customer_ref", "crm_contact_id", "email", "phone", "anonymous_id"]
LIMITS = {"customer_ref": 1, "crm_contact_id": 5, "email": 5, "phone": 2, "anonymous_id": 200}


def _stitch(spark, checkpoint, records):
    """records: {record_key: [(id_type, value), ...]} -> ({record_key: component}, {value: conflict reason})."""
    rows, nodes = [], {}
    for record, identifiers in records.items():
        for id_type, value in identifiers:
            node = nodes.setdefault((id_type, value), len(nodes) + 1)
            rows.append((record, id_type, node))
    usable = spark.createDataFrame(rows, "record_key string, id_type string, node long")
    result = stitch_identifiers(usable, TYPES, LIMITS, checkpoint)
    component = {r.node: r.component for r in result.assigned.collect()}
    by_node = {n: v for (_, v), n in nodes.items()}
    conflicts = {by_node[r.node]: r.reason for r in result.conflicts.collect()}
    record_component = {}
    for record, identifiers in records.items():
        comps = {component.get(nodes[i]) for i in identifiers} - {None}
        assert len(comps) <= 1, f"{record} spans components {comps}"
        record_component[record] = comps.pop() if comps else None
    return record_component, conflicts


def test_shared_identifiers_stitch_records_of_one_person(spark, checkpoint):
    found, conflicts = _stitch(
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


def test_family_email_across_four_accounts_merges_nobody(spark, checkpoint):
    records = {f"orders:{i}": [("customer_ref", f"C{i}"), ("email", "giadinh.nguyen@gmail.com")] for i in range(4)}
    records["consent:1"] = [("email", "giadinh.nguyen@gmail.com")]
    found, conflicts = _stitch(spark, checkpoint, records)
    assert len({found[f"orders:{i}"] for i in range(4)}) == 4
    assert "giadinh.nguyen@gmail.com" in conflicts
    assert "4 customer_ref" in conflicts["giadinh.nguyen@gmail.com"]
    assert found["consent:1"] is None  # carried only by the refused email: no customer rather than a wrong one


def test_anonymous_id_identified_as_two_users_stays_apart(spark, checkpoint):
    found, conflicts = _stitch(
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


def test_chain_a_b_c_where_only_a_c_is_false(spark, checkpoint):
    # A and B share an email, B and C a phone; A and C are two shop accounts, so the phone may not join them.
    found, conflicts = _stitch(
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


def test_a_chain_of_acceptable_links_that_exceeds_a_limit_is_refused(spark, checkpoint):
    # Each phone alone joins one account to a CRM contact; together, in one round, they would join two accounts.
    found, conflicts = _stitch(
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
