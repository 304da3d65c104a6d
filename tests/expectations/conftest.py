"""A tiny landing zone ingested into a tmp lake with run_ingest (spark, lake, landing: tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from cdp.lake import Lake
from ingest.job import IngestReport, run_ingest

EVENTS = [
    {"type": "track", "messageId": "msg-0001", "userId": "u-1", "event": "Order Completed",
     "timestamp": "2024-03-01T10:00:00Z", "context": {"channel": "web"}},
    {"type": "page", "messageId": "msg-0002", "anonymousId": "a-1", "name": "Home",
     "timestamp": "2024-03-01T10:01:00Z"},
    {"type": "identify", "messageId": "msg-0003", "userId": "u-1", "traits": {"email": "ana@example.com"},
     "timestamp": "2024-03-01T10:02:00Z"},
    {"type": "bogus", "messageId": "msg-0004", "userId": "u-1", "timestamp": "2024-03-01T10:03:00Z"},  # bad enum
    {"type": "track", "messageId": "msg-0001", "userId": "u-1", "event": "Again",
     "timestamp": "2024-03-01T10:04:00Z"},  # duplicate messageId
    {"type": "page", "messageId": "msg-0006", "anonymousId": "a-2"},  # no timestamp
]  # fmt: skip
CRM_CSV = (
    "contact_id,first_name,email,gender,updated_at\n"
    "c-1,Ana,ana@example.com,female,2024-01-02T00:00:00Z\n"
    "c-2,Binh,binh@example.com,male,2024-01-03T00:00:00Z\n"
    ",Chi,chi@example.com,female,2024-01-04T00:00:00Z\n"  # no contact_id
)


@dataclass(frozen=True)
class Ingested:
    lake: Lake
    landing: Path
    report: IngestReport


@pytest.fixture
def ingested(spark: SparkSession, lake: Lake, landing: Path, write_file) -> Ingested:
    """events: 6 records, 3 accepted; crm_contacts: 3 records, 2 accepted; nothing else has landed."""
    write_file("events", "2024-03-01.jsonl", EVENTS)
    write_file("crm_contacts", "export.csv", CRM_CSV)
    report = run_ingest(spark, lake, landing, sources=["events", "crm_contacts"])
    return Ingested(lake, landing, report)
