"""A tiny landing zone and run config pointing the lake resource at it (landing, write_file: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

EVENTS = [
    {"type": "track", "messageId": "m-1", "userId": "u-1", "event": "Product Viewed",
     "timestamp": "2024-03-01T10:00:00Z"},
    {"type": "page", "messageId": "m-2", "anonymousId": "a-1", "name": "Home", "timestamp": "2024-03-01T10:01:00Z"},
    {"type": "identify", "messageId": "m-3", "userId": "u-1", "timestamp": "2024-03-01T10:02:00Z"},
    {"type": "track", "messageId": "m-4", "userId": "u-1", "timestamp": "2024-03-01T10:03:00Z"},  # no event name
]  # fmt: skip
CRM_CSV = (
    "contact_id,first_name,email,updated_at\n"
    "c-1,Ana,ana@example.com,2024-01-02T00:00:00Z\n"
    "c-2,Binh,binh@example.com,2024-01-03T00:00:00Z\n"
)


@pytest.fixture
def landed(landing: Path, write_file) -> Path:
    """events: 4 records, 1 quarantined; crm_contacts: 2 records, all accepted; no other source has files."""
    write_file("events", "batch-1.jsonl", EVENTS)
    write_file("crm_contacts", "export.csv", CRM_CSV)
    return landing


@pytest.fixture
def run_config(tmp_path: Path, landed: Path) -> dict:
    return {"resources": {"lake": {"config": {"lake_root": str(tmp_path / "lake"), "landing_root": str(landed)}}}}
