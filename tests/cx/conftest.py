"""The CX tests build tiny lakes the way the marts tests do (tests/marts/conftest.py): bronze rows in the contract's
schema, an identity map written as identity resolution writes it, then the real dbt build."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from cdp.lake import Lake, Table
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, lake_writer, ts

__all__ = ["AS_OF", "CX_MODELS", "LakeWriter", "lake_writer", "read", "seed_cx_lake", "ts"]

# The CX marts and what they need (plus the trait that feeds the activation care rule).
CX_MODELS = "+cx_survey_metrics +cx_case_metrics +cx_bot_handoff_metrics +int_traits__cx_scores"


def read(lake: Lake, table: Table, where: str = "true") -> list[dict[str, Any]]:
    con = duckdb.connect()
    load_delta_extension(con)
    cursor = con.execute(f"select * from delta_scan('{lake.uri(table)}') where {where}")
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _response(rid: str, survey_type: str, score: int, at, **extra: Any) -> dict[str, Any]:
    return {"response_id": rid, "survey_type": survey_type, "score": score, "responded_at": at,
            "touchpoint": "delivery", "channel": "email", **extra}  # fmt: skip


def seed_cx_lake(w: LakeWriter) -> None:
    """Three customers whose answers open cases (NPS 3, CSAT 1, CES 2), a promoter, a passive, an unknown
    detractor (no identity link), an old detractor (before the case lookback), and bot contacts."""
    day = timedelta(days=1)
    responses = [
        _response("r-a1", "NPS", 3, AS_OF - 2 * day, comment="late and nobody answered"),
        _response("r-a2", "NPS", 9, AS_OF - 40 * day),
        _response("r-b1", "CSAT", 1, AS_OF - 1 * day, touchpoint="store_visit", channel="store", store_id="st1"),
        _response("r-c1", "CES", 2, AS_OF - 4 * day, touchpoint="checkout", channel="web"),
        _response("r-d1", "NPS", 8, AS_OF - 5 * day),
        _response("r-u1", "NPS", 0, AS_OF - 1 * day),  # nobody: kept and counted, no case
        _response("r-e1", "NPS", 1, AS_OF - 100 * day),  # before the lookback: no case
    ]
    w.bronze("survey_responses", responses)
    for rid, customer in (("r-a1", "cus_a"), ("r-a2", "cus_a"), ("r-b1", "cus_b"), ("r-c1", "cus_c"),
                          ("r-d1", "cus_d"), ("r-e1", "cus_e")):  # fmt: skip
        w.link(customer, "survey_responses", rid, next(r["responded_at"] for r in responses if r["response_id"] == rid))
    tickets: list[dict[str, Any]] = [
        {"ticket_id": "t-a1", "channel": "bot", "opened_at": AS_OF - 6 * day, "contact_count": 1,
         "first_response_at": AS_OF - 6 * day + timedelta(seconds=20), "escalated_to_human": False},
        {"ticket_id": "t-a2", "channel": "bot", "opened_at": AS_OF - 3 * day, "contact_count": 1,
         "first_response_at": AS_OF - 3 * day + timedelta(minutes=12), "escalated_to_human": True},
        {"ticket_id": "t-b1", "channel": "bot", "opened_at": AS_OF - 2 * day, "contact_count": 4,
         "first_response_at": AS_OF - 2 * day + timedelta(seconds=5), "escalated_to_human": False},
    ]  # fmt: skip
    w.bronze("support_tickets", tickets)
    for tid, customer in (("t-a1", "cus_a"), ("t-a2", "cus_a"), ("t-b1", "cus_b")):
        w.link(customer, "support_tickets", tid, next(t["opened_at"] for t in tickets if t["ticket_id"] == tid))
    w.write_identity()
