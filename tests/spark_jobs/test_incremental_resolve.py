"""Incremental identity runs against full runs on the same data (Sail, Delta): same partition, same ids.

Each case starts from one full run, then appends new bronze rows (a new ingest run id) to two copies of the lake:
one is resolved incrementally, the other fully. Both must give every record the same customer id.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from cdp.maintenance import read_arrow
from spark_jobs.jobs.resolve import MODEL_NAME, resolve_identities
from spark_jobs.rules import load_rules
from tests.spark_jobs.test_resolve_job import SCHEMAS, T0, _fixed_model

# A phone carried by more than 3 records is shared (small enough to push over with one new record), and a person
# may hold several loyalty cards (so a phone can stitch them).
RULES = load_rules()
RULES = RULES.model_copy(
    update={
        "degree_guard": RULES.degree_guard.model_copy(update={"max_records": 3}),
        "identifier_types": {
            **RULES.identifier_types,
            "loyalty_card": RULES.identifier_types["loyalty_card"].model_copy(update={"max_per_profile": 5}),
        },
    }
)
TIME_COLUMNS = ("ordered_at", "occurred_at", "updated_at", "timestamp")


def add_bronze(spark, lake: Lake, source: str, rows: list[dict], ingest_run: str) -> None:
    """Append rows to a bronze table as an ingest run does: with the run's id in ``_ingest_run_id``."""
    columns = [c.strip().split(" ")[0] for c in SCHEMAS[source].split(",")]
    data = [(*[row.get(c, T0 if c in TIME_COLUMNS else None) for c in columns], ingest_run) for row in rows]
    frame = spark.createDataFrame(data, SCHEMAS[source] + ", _ingest_run_id string")
    frame.write.format("delta").mode("append").save(lake.uri(layout.bronze(source)))


def resolve(spark, lake: Lake, **kwargs):
    return resolve_identities(spark, lake, RULES, default_region="VN", **kwargs)


def read(lake: Lake, table: layout.Table) -> list[dict]:
    return read_arrow(lake.uri(table)).to_pylist()


def customers_of(lake: Lake) -> dict[str, str]:
    return {f"{r['source']}:{r['source_record_id']}": r["customer_id"] for r in read(lake, layout.IDENTITY_MAP)}


def partition(found: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record, customer in found.items():
        groups.setdefault(customer, set()).add(record)
    return {frozenset(g) for g in groups.values()}


DOB = dt.date(1991, 7, 12)
DAO = {"first_name": "Thị Đào", "last_name": "Nguyễn", "date_of_birth": DOB, "address_line1": "12 Lê Lợi"}
DAO |= {"city": "Hồ Chí Minh", "postcode": "70000"}

MAI = {
    **DAO,
    "contact_id": "K3",
    "email": "mai@gmail.com",
    "first_name": "Thị Mai",
    "date_of_birth": dt.date(1994, 2, 3),
}
BEFORE = {
    "orders": [
        {"order_id": "A1", "customer_ref": "CA", "email": "an@gmail.com"},  # A: joined by a new order
        {"order_id": "B1", "email": "binh@yahoo.com"},  # B and D: bridged by a new order
        {"order_id": "D1", "phone": "0912 000 111"},
        {"order_id": "U1", "customer_ref": "CU", "email": "untouched@gmail.com"},  # nobody new touches U
    ],
    "pos_transactions": [  # S: three purchases stitched by one phone, until a fourth record makes it shared
        {"transaction_id": f"S{i}", "loyalty_card_id": f"L{i}", "phone": "0913 222 333"} for i in range(3)
    ],
    "crm_contacts": [
        {"contact_id": "K1", "email": "dao1@gmail.com", **DAO},
        MAI,
    ],
}
AFTER = {
    "orders": [
        {"order_id": "A2", "email": " AN@gmail.com"},
        {"order_id": "BD", "email": "binh@yahoo.com", "phone": "+84 912 000 111"},
        {"order_id": "N1", "email": "new.person@gmail.com"},  # a brand-new person
    ],
    "pos_transactions": [{"transaction_id": "S3", "loyalty_card_id": "L3", "phone": "0913222333"}],
    # Đào again, written without diacritics and with another email: linked by the model only.
    "crm_contacts": [
        {**DAO, "contact_id": "K2", "email": "dao.work@company.vn", "first_name": "Thi Dao", "last_name": "NGUYEN"},
        # Mai's contact exported again with a new email: one record, old and new identifiers.
        {**MAI, "email": "mai.new@gmail.com", "updated_at": T0 + dt.timedelta(days=30)},
    ],
}


@pytest.fixture
def lakes(spark, tmp_path):
    """(lake resolved fully once, then given the new rows; a copy of it before the new rows, given them too)."""
    lake = Lake(tmp_path / "lake")
    path = lake.model_path(MODEL_NAME)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_fixed_model(RULES).to_json()))  # the model is re-used, never retrained
    for source, rows in BEFORE.items():
        add_bronze(spark, lake, source, rows, "ingest-1")
    first = resolve(spark, lake)
    assert first.mode == "full" and first.mode_reason == "no earlier run"
    twin = Lake(tmp_path / "twin")
    shutil.copytree(lake.root, twin.root)
    return lake, twin


# The scope stitched on the driver (small scopes, the default) and on Spark (0: the path of big scopes).
@pytest.mark.parametrize("local_scope_max_records", [50_000, 0], ids=["driver", "spark"])
def test_incremental_gives_the_full_runs_customers_on_join_bridge_split_new_and_probabilistic(
    spark, lakes, local_scope_max_records
):
    lake, twin = lakes
    before = customers_of(lake)
    assert before["orders:B1"] != before["orders:D1"]
    assert before["pos_transactions:S0"] == before["pos_transactions:S1"] == before["pos_transactions:S2"]
    for target in (lake, twin):
        for source, rows in AFTER.items():
            add_bronze(spark, target, source, rows, "ingest-2")

    incremental = resolve(spark, lake, mode="incremental", local_scope_max_records=local_scope_max_records)
    full = resolve(spark, twin, mode="full")
    assert incremental.mode == "incremental" and full.mode == "full"
    assert incremental.new_records == 6
    # Untouched people (U) stay out of the scope.
    assert incremental.scope_records < full.scope_records

    after, reference = customers_of(lake), customers_of(twin)
    assert partition(after) == partition(reference)
    # The same earlier ids kept by the same records; other records get new ids in both (a new id that clashes with
    # an earlier one is salted with the run id, so those differ between any two runs).
    old_ids = set(before.values())
    assert {k: v for k, v in after.items() if v in old_ids} == {k: v for k, v in reference.items() if v in old_ids}
    assert after["orders:A2"] == after["orders:A1"] == before["orders:A1"]  # joined an existing person
    assert after["orders:B1"] == after["orders:D1"] == after["orders:BD"]  # bridged: one id survives
    assert after["orders:BD"] in {before["orders:B1"], before["orders:D1"]}
    assert len({after[f"pos_transactions:S{i}"] for i in range(4)}) == 4  # the phone is shared now: split
    assert after["orders:N1"] not in before.values()  # a brand-new person
    assert after["crm_contacts:K2"] == after["crm_contacts:K1"] == before["crm_contacts:K1"]  # probabilistic link
    assert after["orders:U1"] == before["orders:U1"] and after["crm_contacts:K3"] == before["crm_contacts:K3"]
    emails = {r["raw_value"] for r in read(lake, layout.IDENTITY_IDENTIFIERS) if r["record_key"] == "crm_contacts:K3"}
    assert {"mai@gmail.com", "mai.new@gmail.com"} <= emails  # the re-exported record holds both

    # The same merges and splits are recorded, and the whole-lake figures agree.
    def events(target):
        return sorted((h["event"], h["customer_id"], h["records"]) for h in read(target, layout.IDENTITY_MERGE_HISTORY))

    assert events(lake) == events(twin) and {e[0] for e in events(lake)} == {"merge", "split"}
    for name in ("records", "resolved_records", "customers", "largest_customer", "merges", "splits", "new_customers"):
        assert getattr(incremental, name) == getattr(full, name), name
    assert incremental.dropped_identifiers == full.dropped_identifiers

    # Untouched rows keep when they were assigned; moved and new rows get this run's time.
    rows = {f"{r['source']}:{r['source_record_id']}": r for r in read(lake, layout.IDENTITY_MAP)}
    first_time, second_time = rows["orders:U1"]["assigned_at"], rows["orders:N1"]["assigned_at"]
    assert first_time < second_time and rows["orders:A1"]["assigned_at"] == first_time
    # Stored graph tables hold the same rows as after a full run (the run ids aside).
    for table, keys in (
        (layout.IDENTITY_IDENTIFIERS, ("record_key", "id_type", "raw_value", "value", "drop_reason", "status")),
        (layout.IDENTITY_MATCH_PAIRS, ("left_key", "right_key", "match_probability", "linked", "refused_reason")),
        (layout.IDENTITY_PROFILES, ("profile_key", "first_name", "customer_id")),
    ):
        mine = sorted(tuple(str(r[k]) for k in keys) for r in read(lake, table))
        assert mine == sorted(tuple(str(r[k]) for k in keys) for r in read(twin, table)), table.name


def test_a_run_without_new_rows_writes_only_its_run_record(spark, lakes):
    lake, _ = lakes
    versions = {t: DeltaTable(lake.uri(t)).version() for t in (layout.IDENTITY_MAP, layout.IDENTITY_IDENTIFIERS)}
    (previous,) = read(lake, layout.IDENTITY_RUNS)
    report = resolve(spark, lake)  # auto
    assert report.mode == "incremental" and report.new_records == 0
    assert {t: DeltaTable(lake.uri(t)).version() for t in versions} == versions
    runs = sorted(read(lake, layout.IDENTITY_RUNS), key=lambda r: r["started_at"])
    assert len(runs) == 2 and runs[-1]["mode"] == "incremental"
    for name in ("records", "customers", "largest_customer", "dropped_identifiers", "size_histogram"):
        assert runs[-1][name] == previous[name], name


def test_auto_runs_fully_when_rules_change_or_too_many_records_are_new(spark, lakes):
    lake, _ = lakes
    add_bronze(spark, lake, "orders", [{"order_id": f"M{i}", "email": f"m{i}@gmail.com"} for i in range(3)], "i-3")
    report = resolve(spark, lake, max_new_share=0.1)  # 3 new of 10 records
    assert report.mode == "full" and "above identity_incremental_max_new_share" in report.mode_reason
    changed = RULES.model_copy(update={"version": "another"})
    report = resolve_identities(spark, lake, changed, default_region="VN")
    assert report.mode == "full" and report.mode_reason.startswith("the identity rules changed")
    with pytest.raises(ValueError, match="identity rules changed"):
        resolve(spark, lake, mode="incremental")


def test_a_new_record_linked_only_by_the_model_is_resolved_in_one_scope_pass(spark, lakes):
    """Đào again, with a new email and no identifier in common with anyone: only the model links her to her earlier
    contact. That customer is outside the identifiers' scope, so the run must bring it in before resolving (one pass),
    not find the link and resolve a widened scope again."""
    lake, twin = lakes
    before = customers_of(lake)
    dao_again = {**DAO, "contact_id": "K9", "email": "dao.home@yahoo.com", "first_name": "Thi Dao"}
    for target in (lake, twin):
        add_bronze(spark, target, "crm_contacts", [dao_again], "ingest-2")

    incremental = resolve(spark, lake, mode="incremental")
    full = resolve(spark, twin, mode="full")
    assert incremental.mode == "incremental" and full.mode == "full" and incremental.new_records == 1
    assert incremental.scope_passes == 1
    after = customers_of(lake)
    assert after["crm_contacts:K9"] == after["crm_contacts:K1"] == before["crm_contacts:K1"]
    # K1's customer came in as K9's blocking neighbour; nobody else did (Mai shares Đào's last name only).
    assert incremental.scope_records == 2
    assert partition(after) == partition(customers_of(twin)) and after == customers_of(twin)


def test_a_link_refused_by_the_last_run_is_decided_again_in_one_scope_pass(spark, tmp_path):
    """Đào's two contacts match, but each is stitched to an order with its own customer_ref: the link was refused
    (at most one customer_ref per profile) and she is two customers. A new order joins one of them; the refused
    pair brings the other into the scope up front (one pass), and the answer is the full run's."""
    lake = Lake(tmp_path / "lake")
    path = lake.model_path(MODEL_NAME)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_fixed_model(RULES).to_json()))
    contacts = [
        {**DAO, "contact_id": "K1", "email": "dao1@gmail.com"},
        {**DAO, "contact_id": "K2", "email": "dao.work@company.vn", "first_name": "Thi Dao", "last_name": "NGUYEN"},
    ]
    add_bronze(spark, lake, "crm_contacts", contacts, "ingest-1")
    orders = [
        {"order_id": "O1", "customer_ref": "CA", "email": "dao1@gmail.com"},
        {"order_id": "O2", "customer_ref": "CB", "email": "dao.work@company.vn"},
    ]
    add_bronze(spark, lake, "orders", orders, "ingest-1")
    resolve(spark, lake)
    before = customers_of(lake)
    assert before["crm_contacts:K1"] != before["crm_contacts:K2"]
    refused = [p for p in read(lake, layout.IDENTITY_MATCH_PAIRS) if p["refused_reason"]]
    assert len(refused) == 1
    twin = Lake(tmp_path / "twin")
    shutil.copytree(lake.root, twin.root)
    for target in (lake, twin):
        add_bronze(spark, target, "orders", [{"order_id": "O3", "email": "dao1@gmail.com"}], "ingest-2")

    incremental = resolve(spark, lake, mode="incremental")
    full = resolve(spark, twin, mode="full")
    assert incremental.mode == "incremental" and full.mode == "full"
    assert incremental.scope_passes == 1 and incremental.scope_records == 5
    assert customers_of(lake) == customers_of(twin)
    assert customers_of(lake)["orders:O3"] == before["crm_contacts:K1"]


def test_records_erased_between_two_runs_are_not_counted(spark, lakes):
    """``cdp erase`` deletes a person's records between runs: the next incremental run's record count is the
    lake's (as a full run on the same data counts it), not the previous run's plus the new records."""
    from activation.erasure import erase
    from activation.erasure import resolve as find_person

    lake, twin = lakes
    for target in (lake, twin):
        person = find_person(target, value="untouched@gmail.com", id_type="email")  # U: one record, orders:U1
        erase(target, person, lookup="email", run_by="test")
        add_bronze(spark, target, "orders", AFTER["orders"], "ingest-2")

    incremental = resolve(spark, lake, mode="incremental")
    full = resolve(spark, twin, mode="full")
    assert incremental.mode == "incremental" and incremental.new_records == 3
    records_left = {r["record_key"] for r in read(lake, layout.IDENTITY_IDENTIFIERS)}
    assert "orders:U1" not in records_left
    assert incremental.records == full.records == len(records_left)
    (run,) = [r for r in read(lake, layout.IDENTITY_RUNS) if r["run_id"] == incremental.run_id]
    assert run["records"] == len(records_left)

    # A run without new rows after an erasure counts the lake too: its records and customers.
    for target in (lake, twin):
        erase(target, find_person(target, customer_id=customers_of(target)["orders:N1"]), lookup="customer_id")
    unchanged = resolve(spark, lake, mode="incremental")
    assert unchanged.new_records == 0 and unchanged.records == len(records_left) - 1
    left = customers_of(lake)
    assert unchanged.resolved_records == len(left) and unchanged.customers == len(set(left.values()))
    assert unchanged.size_histogram == resolve(spark, twin, mode="full").size_histogram
