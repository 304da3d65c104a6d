"""The suppression list at bronze: records of an erased person (by email, phone or customer_ref, normalised as
identity resolution normalises them) are dropped by the ingest, counted as ``suppressed``, and never reach bronze
or quarantine; everyone else's records are ingested as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from activation.erasure import erase, resolve
from cdp import lake as layout
from cdp.lake import Lake
from ingest.parsing import without_suppressed
from ingest.suppression import SUPPRESSED, identifier_hash, suppressor
from marts.source_tables import OTHER_SOURCE_SCHEMAS
from spark_jobs.rules import load_rules
from tests.activation.test_erasure import leftovers
from tests.ingest.test_ingest_job import ingest, quarantine, rows

ERASED = {"email": "annguyen@gmail.com", "phone": "+84912345678", "customer_ref": "CUSREF-4242"}


def _consents(*records: dict) -> list[dict]:
    base = {"purpose": "marketing", "channel": "email", "status": "granted", "occurred_at": "2025-03-01T10:00:00Z"}
    return [{**base, **r} for r in records]


def test_suppressor_matches_identifiers_as_identity_resolution_normalises_them() -> None:
    rules = load_rules()
    found = suppressor("consent_events", [identifier_hash(v) for v in ERASED.values()], rules, "VN")
    assert found is not None
    parsed = pa.table(
        {
            "customer_ref": [" CUSREF-4242", None, None, "CUSREF-4243", None, None],
            "email": [None, " An.Nguyen+shop@GMAIL.com", None, None, "an.nguyen@yahoo.com", None],
            "phone": [None, None, "0912 345 678", None, "0912 345 679", None],
        }
    )
    assert found.suppressed(parsed).to_pylist() == [True, True, True, False, False, False]
    # Events keep the email in the Segment traits (the identity rules' get_json_object, run by DuckDB here).
    events = suppressor("events", [identifier_hash(ERASED["email"])], rules, "VN")
    assert events is not None
    traits = [json.dumps({"email": "annguyen@gmail.com"}), json.dumps({"email": "other@gmail.com"}), None]
    nothing = [None] * 3
    columns = {"userId": nothing, "anonymousId": ["a", "b", "c"], "traits": traits, "type": ["identify"] * 3}
    parsed_events = pa.table({**columns, "previousId": nothing, "context_device_id": nothing})
    assert events.suppressed(parsed_events).to_pylist() == [True, False, False]
    # An empty list costs nothing: no suppressor at all.
    assert suppressor("consent_events", [], rules, "VN") is None


def test_a_suppressed_row_keeps_its_lineage_and_nothing_else() -> None:
    parsed = pa.table(
        {
            "_file_order": pa.array([0, 0], pa.int32()),
            "_source_file": ["a.jsonl", "a.jsonl"],
            "_file_checksum": ["x", "x"],
            "_row_number": pa.array([1, 2], pa.int64()),
            "_raw": ['{"email": "annguyen@gmail.com"}', '{"email": "b@c.de"}'],
            "_frame_error": pa.array([None, None], pa.string()),
            "email": ["annguyen@gmail.com", "b@c.de"],
        }
    )
    kept = without_suppressed(parsed, pa.array([True, False]))
    assert kept.to_pylist() == [
        {"_file_order": 0, "_source_file": "a.jsonl", "_file_checksum": "x", "_row_number": 1, "_raw": None,
         "_frame_error": SUPPRESSED, "email": None},
        {**parsed.to_pylist()[1]},
    ]  # fmt: skip


def _link(lake: Lake, links: list[tuple[str, str, str, str, str]]) -> None:
    """Identity for consent records: (customer_id, consent_id, id_type, raw value, normalised value)."""
    at = datetime(2025, 3, 1, tzinfo=UTC)
    mapping = {
        (c, r): {"customer_id": c, "source": "consent_events", "source_record_id": r, "matched_by": "email",
                 "match_probability": 1.0, "observed_at": at, "rule_version": "test", "run_id": "test"}
        for c, r, *_ in links
    }  # fmt: skip
    identifiers = [
        {"node": i, "record_key": f"consent_events:{r}", "source": "consent_events", "source_record_id": r,
         "observed_at": at, "id_type": t, "raw_value": raw, "region_hint": None, "value": v, "drop_reason": None,
         "status": "used", "run_id": "test"}
        for i, (_, r, t, raw, v) in enumerate(links)
    ]  # fmt: skip
    for table, data in ((layout.IDENTITY_MAP, list(mapping.values())), (layout.IDENTITY_IDENTIFIERS, identifiers)):
        write_deltalake(lake.uri(table), pa.Table.from_pylist(data, schema=OTHER_SOURCE_SCHEMAS[table]),
                        mode="overwrite")  # fmt: skip


@pytest.mark.usefixtures("spark")
def test_an_erased_person_re_sent_in_a_file_does_not_come_back(spark, lake, landing, write_file) -> None:
    write_file("consent_events", "first.jsonl", _consents(
        {"consent_id": "CNS-1", "email": "An.Nguyen+shop@gmail.com"},
        {"consent_id": "CNS-2", "customer_ref": "CUSREF-4242", "phone": "0912 345 678"},
        {"consent_id": "CNS-3", "email": "binh.tran@yahoo.com"},
    ))  # fmt: skip
    ingest(spark, lake, landing)
    _link(lake, [
        ("cus_an", "CNS-1", "email", "An.Nguyen+shop@gmail.com", ERASED["email"]),
        ("cus_an", "CNS-2", "customer_ref", "CUSREF-4242", ERASED["customer_ref"]),
        ("cus_an", "CNS-2", "phone", "0912 345 678", ERASED["phone"]),
        ("cus_binh", "CNS-3", "email", "binh.tran@yahoo.com", "binh.tran@yahoo.com"),
    ])  # fmt: skip
    erase(lake, resolve(lake, value=ERASED["email"], id_type="email"), lookup="email", run_by="test")
    assert [r["consent_id"] for r in rows(lake, layout.bronze("consent_events"))] == ["CNS-3"]

    # The source sends its data again: the old records, a new one by phone only, one by customer_ref only (each
    # written differently), another person's, and a malformed row.
    write_file("consent_events", "resent.jsonl", _consents(
        {"consent_id": "CNS-1", "email": " AN.NGUYEN@gmail.com"},
        {"consent_id": "CNS-4", "phone": "+84 91 234 5678"},
        {"consent_id": "CNS-5", "customer_ref": "CUSREF-4242 ", "email": "an.work@yahoo.com"},
        {"consent_id": "CNS-6", "email": "chi.le@yahoo.com"},
        {"consent_id": "CNS-7", "email": "chi.le@yahoo.com", "status": "maybe"},
    ))  # fmt: skip
    report = ingest(spark, lake, landing)  # asserts records in = accepted + quarantined + suppressed

    (outcome,) = report.files
    assert (outcome.records_in, outcome.accepted, outcome.quarantined, outcome.suppressed) == (5, 1, 1, 3)
    assert sorted(r["consent_id"] for r in rows(lake, layout.bronze("consent_events"))) == ["CNS-3", "CNS-6"]
    assert [(f, n) for f, n, _ in quarantine(lake, "consent_events")] == [("resent.jsonl", 5)]
    log = {r["file_path"].rsplit("/", 1)[-1]: r for r in rows(lake, layout.INGEST_LOG)}
    assert (log["resent.jsonl"]["suppressed"], log["resent.jsonl"]["accepted"]) == (3, 1)
    assert leftovers(lake.root, ["an.nguyen", "0912 345 678", "91 234 5678", "an.work", "CUSREF-4242"]) == []
