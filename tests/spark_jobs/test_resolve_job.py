"""The identity job on small bronze Delta tables: edge cases, outputs, stable ids across runs (Sail)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.maintenance import read_arrow
from spark_jobs.jobs.explain import explain_customer, find_customer
from spark_jobs.jobs.locking import LakeLocked, lake_lock
from spark_jobs.jobs.resolve import MODEL_NAME, resolve_identities
from spark_jobs.rules import load_rules
from spark_jobs.transforms import matching

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
SCHEMAS = {
    "orders": "order_id string, customer_ref string, email string, phone string, ordered_at timestamp",
    "pos_transactions": "transaction_id string, loyalty_card_id string, phone string, occurred_at timestamp",
    "crm_contacts": (
        "contact_id string, first_name string, last_name string, email string, phone string, date_of_birth date, "
        "address_line1 string, city string, postcode string, country string, updated_at timestamp"
    ),
    "events": (
        "type string, messageId string, anonymousId string, userId string, previousId string, "
        "context_device_id string, traits string, timestamp timestamp"
    ),
}


def write_bronze(spark, lake, source, rows):
    columns = [c.strip().split(" ")[0] for c in SCHEMAS[source].split(",")]
    data = [
        tuple(
            row.get(c, T0 if c in ("ordered_at", "occurred_at", "updated_at", "timestamp") else None) for c in columns
        )
        for row in rows
    ]
    spark.createDataFrame(data, SCHEMAS[source]).write.format("delta").mode("overwrite").save(
        lake.uri(layout.bronze(source))
    )


def customers_of(lake):
    rows = read_arrow(lake.uri(layout.IDENTITY_MAP)).to_pylist()
    return {f"{r['source']}:{r['source_record_id']}": r["customer_id"] for r in rows}, rows


def resolve(spark, lake, rules=None, **kwargs):
    return resolve_identities(spark, lake, rules or load_rules(), default_region="VN", **kwargs)


def test_one_customer_per_person_with_explainable_links(spark, lake):
    write_bronze(
        spark,
        lake,
        "orders",
        [
            {"order_id": "O1", "customer_ref": "C1", "email": " An.Nguyen+shop@Gmail.com", "phone": "0912 345 678"},
            {"order_id": "O2", "customer_ref": "C1"},
            {"order_id": "O3", "customer_ref": "C2", "email": "binh@yahoo.com"},
            {"order_id": "O4", "email": "not-an-email"},  # only an invalid identifier: not resolvable
        ],
    )
    write_bronze(spark, lake, "pos_transactions", [{"transaction_id": "T1", "phone": "+84 912 345 678"}])
    write_bronze(
        spark,
        lake,
        "events",
        [
            {"type": "page", "messageId": "E1", "anonymousId": "anon-1"},
            {"type": "identify", "messageId": "E2", "anonymousId": "anon-1", "userId": "C1"},
        ],
    )
    report = resolve(spark, lake)
    found, rows = customers_of(lake)
    a = found["orders:O1"]
    assert {found[k] for k in ("orders:O2", "pos_transactions:T1", "events:E1", "events:E2")} == {a}
    assert found["orders:O3"] != a
    assert "orders:O4" not in found
    assert report.dropped_identifiers["invalid email"] == 1
    assert report.customers == 2
    assert all(r["rule_version"] == load_rules().tag for r in rows)
    runs = DeltaTable(lake.uri(layout.IDENTITY_RUNS)).to_pyarrow_table().to_pylist()
    assert runs[-1]["rule_version"] == load_rules().tag and runs[-1]["customers"] == 2

    explained = explain_customer(lake, a)
    assert len(explained.records) == 5
    emails = [s for s in explained.shared_identifiers if s["id_type"] == "email"]
    assert emails and emails[0]["value"] == "a***@gmail.com"  # masked unless --show-pii
    assert find_customer(lake, load_rules(), "VN", email="AnNguyen@gmail.com", phone=None) == a
    assert find_customer(lake, load_rules(), "VN", email=None, phone="+84912345678") == a


def test_store_phone_on_500_pos_rows_and_a_qa_account_merge_nobody(spark, lake):
    rules = load_rules()
    rules = rules.model_copy(update={"degree_guard": rules.degree_guard.model_copy(update={"max_records": 100})})
    pos = [{"transaction_id": f"T{i}", "phone": "0912 000 111"} for i in range(500)]  # a mobile typed for everyone
    pos += [{"transaction_id": f"L{i}", "phone": "028 3823 4567"} for i in range(20)]  # the store's landline
    pos += [{"transaction_id": "REAL", "loyalty_card_id": "LC1", "phone": "0912 000 111"}]
    write_bronze(spark, lake, "pos_transactions", pos)
    events = [
        {"type": "track", "messageId": f"Q{i}", "anonymousId": f"qa-device-{i}", "userId": "QA1", "traits": None}
        for i in range(1000)
    ]
    events += [
        {"type": "identify", "messageId": "QI", "anonymousId": "qa-device-0", "traits": '{"email": "TEST@example.com"}'}
    ]
    write_bronze(spark, lake, "events", events)
    write_bronze(
        spark,
        lake,
        "orders",
        [  # two real people who typed the QA address at checkout
            {"order_id": "A", "email": "test@example.com", "phone": "0987 654 321"},
            {"order_id": "B", "email": " test@example.com", "phone": "0987 654 322"},
        ],
    )
    report = resolve(spark, lake, rules)
    found, rows = customers_of(lake)
    sizes = {}
    for r in rows:
        sizes[r["customer_id"]] = sizes.get(r["customer_id"], 0) + 1
    assert not any(f"pos_transactions:T{i}" in found for i in range(500))  # the shared phone links nobody
    assert not any(f"pos_transactions:L{i}" in found for i in range(20))
    assert found["orders:A"] != found["orders:B"]
    assert max(sizes.values()) < 100
    assert report.dropped_identifiers["not a mobile number"] == 1
    assert report.dropped_identifiers["blocked value"] == 1
    assert report.dropped_identifiers["shared identifier (degree guard)"] >= 2  # the phone and the QA user id
    identifiers = read_arrow(lake.uri(layout.IDENTITY_IDENTIFIERS)).to_pylist()
    reasons = {(r["id_type"], r["value"]): r["drop_reason"] for r in identifiers}
    assert reasons[("phone", "+84912000111")].startswith("shared identifier: 501 records")
    assert reasons[("customer_ref", "QA1")].startswith("shared identifier")


def test_empty_and_missing_sources_and_a_source_with_only_customer_ref(spark, lake):
    write_bronze(spark, lake, "orders", [{"order_id": f"O{i}", "customer_ref": f"C{i % 3}"} for i in range(9)])
    write_bronze(spark, lake, "pos_transactions", [])  # an empty source; crm_contacts and events do not exist
    report = resolve(spark, lake)
    found, _ = customers_of(lake)
    assert len(found) == 9 and report.customers == 3
    assert (report.records, report.resolved_records, report.largest_customer) == (9, 9, 3)
    assert report.size_histogram == {"3-5": 3} and report.records_in_multi_record_customers == 9
    assert found["orders:O0"] == found["orders:O3"] == found["orders:O6"] != found["orders:O1"]


def _fixed_model(rules):
    comparisons = rules.probabilistic.comparisons
    labels = matching.level_labels(comparisons)
    m = {f: [0.95] + [0.04 / max(1, len(v) - 2)] * (len(v) - 2) + [0.01] for f, v in labels.items()}
    u = {f: [0.0005] + [0.005] * (len(v) - 2) + [0.99] for f, v in labels.items()}
    return matching.FellegiSunterModel(labels, m, u, 1e-4, rules.tag, "2025-01-01T00:00:00", {"fixed": True})


def test_same_person_with_and_without_diacritics_is_linked_probabilistically(spark, lake):
    rules = load_rules()
    path = lake.model_path(MODEL_NAME)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_fixed_model(rules).to_json()))  # a saved model is re-used until retrained
    dob = dt.date(1991, 7, 12)
    write_bronze(
        spark,
        lake,
        "crm_contacts",
        [
            {
                "contact_id": "K1",
                "first_name": "Thị Đào",
                "last_name": "Nguyễn",
                "email": "dao1@gmail.com",
                "date_of_birth": dob,
                "address_line1": "12 Lê Lợi",
                "city": "Hồ Chí Minh",
                "postcode": "70000",
            },
            {
                "contact_id": "K2",
                "first_name": "Thi Dao",
                "last_name": "NGUYEN",
                "email": "dao.work@company.vn",
                "date_of_birth": dob,
                "address_line1": "12 Le Loi",
                "city": "Ho Chi Minh",
                "postcode": "70000",
            },
            # her sister: same family name, address and postcode, another first name and birth date
            {
                "contact_id": "K3",
                "first_name": "Thị Mai",
                "last_name": "Nguyễn",
                "email": "mai@gmail.com",
                "date_of_birth": dt.date(1994, 2, 3),
                "address_line1": "12 Lê Lợi",
                "city": "Hồ Chí Minh",
                "postcode": "70000",
            },
        ],
    )
    report = resolve(spark, lake, rules)
    assert not report.model_trained
    found, rows = customers_of(lake)
    assert found["crm_contacts:K1"] == found["crm_contacts:K2"] != found["crm_contacts:K3"]
    linked = [r for r in rows if r["matched_by"].startswith("probabilistic")]
    assert len(linked) == 1 and linked[0]["match_probability"] > 0.99
    explained = explain_customer(lake, found["crm_contacts:K1"])
    assert "first_name exact" in explained.probabilistic_links[0]["evidence"]


def test_ids_are_stable_across_runs_and_a_merge_keeps_the_oldest_id(spark, lake):
    write_bronze(
        spark,
        lake,
        "orders",
        [
            {"order_id": "X1", "email": "x@gmail.com"},
            {"order_id": "Y1", "phone": "0912 111 222"},
            {"order_id": "Z1", "customer_ref": "C9"},
        ],
    )
    resolve(spark, lake)
    first, _ = customers_of(lake)
    resolve(spark, lake)
    second, _ = customers_of(lake)
    assert first == second  # a full re-run changes nothing

    write_bronze(
        spark,
        lake,
        "orders",
        [
            {"order_id": "X1", "email": "x@gmail.com"},
            {"order_id": "Y1", "phone": "0912 111 222"},
            {"order_id": "Z1", "customer_ref": "C9"},
            {"order_id": "XY", "email": "x@gmail.com", "phone": "0912111222"},  # shows X and Y are one person
        ],
    )
    report = resolve(spark, lake)
    third, _ = customers_of(lake)
    assert third["orders:X1"] == third["orders:Y1"] == third["orders:XY"]
    assert third["orders:X1"] in {first["orders:X1"], first["orders:Y1"]}
    assert third["orders:Z1"] == first["orders:Z1"]  # untouched people keep their id
    assert report.merges == 1
    history = DeltaTable(lake.uri(layout.IDENTITY_MERGE_HISTORY)).to_pyarrow_table().to_pylist()
    assert [h["event"] for h in history] == ["merge"]
    retired = ({first["orders:X1"], first["orders:Y1"]} - {third["orders:X1"]}).pop()
    assert history[0]["other_customer_ids"] == [retired]


def test_a_run_while_another_holds_the_lake_is_refused_before_it_writes(spark, lake):
    write_bronze(spark, lake, "orders", [{"order_id": "O1", "customer_ref": "C1"}])
    with lake_lock(lake, "identity", run_id="identity-other"), pytest.raises(LakeLocked, match="identity-other"):
        resolve(spark, lake)
    assert not lake.exists(layout.IDENTITY_MAP) and not lake.exists(layout.IDENTITY_RUNS)
    resolve(spark, lake)  # released: the next run goes ahead and leaves no lock behind
    assert lake.exists(layout.IDENTITY_MAP) and not lake.lock_path("identity").exists()
