"""gold.cx_text_insights built by dbt on a tiny lake: one row per text, customers joined, texts analysed once."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts


def _rows(lake: Lake) -> dict[str, dict]:
    con = duckdb.connect()
    load_delta_extension(con)
    cursor = con.execute(f"select * from delta_scan('{lake.uri(layout.CX_TEXT_INSIGHTS)}')")
    columns = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def _response(response_id: str, comment: str | None, *, ref: str | None = None, days_ago: int = 3) -> dict:
    return {"response_id": response_id, "survey_type": "NPS", "score": 5, "comment": comment, "customer_ref": ref,
            "channel": "web", "responded_at": AS_OF - timedelta(days=days_ago), "language": "vi"}  # fmt: skip


TICKET_SUBJECT = "Refund for order SO-0001-000017"
TICKET_BODY = "Still no refund after 10 days. Mail me at a.b@example.com"


def _ticket(ticket_id: str, subject: str, body: str, *, days_ago: int = 2) -> dict:
    return {"ticket_id": ticket_id, "channel": "email", "opened_at": AS_OF - timedelta(days=days_ago),
            "subject": subject, "body": body, "language": "en"}  # fmt: skip


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("cx_text") / "lake")
    writer = LakeWriter(lake)
    writer.bronze(
        "survey_responses",
        [
            _response("SR-1", "Giao hàng quá chậm, rất thất vọng 😡", ref="cus_1"),
            _response("SR-2", "Great staff, fast delivery!"),  # from a person nobody knows
            _response("SR-3", None, ref="cus_1"),  # no comment: no text
            _response("SR-4", "   "),
            _response("SR-5", "👍"),
            _response("SR-6", "Ship chậm quá, call me 0912 345 678", days_ago=-5),  # after as_of: not yet
        ],
    )
    writer.bronze(
        "support_tickets",
        [_ticket("TCK-1", TICKET_SUBJECT, TICKET_BODY)],
    )
    writer.link("cus_1", "survey_responses", "SR-1", ts("2025-06-20T00:00:00"))
    writer.link("cus_2", "support_tickets", "TCK-1", ts("2025-06-20T00:00:00"))
    writer.write_identity()
    build_marts(lake, as_of=AS_OF, select="+cx_text_insights")
    return lake


def test_one_row_per_text_with_its_customer(lake):
    rows = _rows(lake)

    assert sorted(rows) == ["support_tickets:TCK-1", "survey_responses:SR-1", "survey_responses:SR-2",
                            "survey_responses:SR-5"]  # fmt: skip
    assert rows["survey_responses:SR-1"]["customer_id"] == "cus_1"
    assert rows["survey_responses:SR-2"]["customer_id"] is None
    assert rows["support_tickets:TCK-1"]["customer_id"] == "cus_2"


def test_sentiment_language_topics_and_masking(lake):
    rows = _rows(lake)
    vi, en, emoji, ticket = (rows[k] for k in ("survey_responses:SR-1", "survey_responses:SR-2",
                                                "survey_responses:SR-5", "support_tickets:TCK-1"))  # fmt: skip

    assert (vi["language"], vi["sentiment_label"]) == ("vi", "negative")
    assert "delivery" in vi["topics"]
    assert (en["language"], en["sentiment_label"]) == ("en", "positive")
    assert {"staff", "delivery"} <= set(en["topics"])
    assert (emoji["language"], emoji["sentiment_label"]) == ("unknown", "positive")
    assert "refund" in ticket["topics"]
    assert "[email]" in ticket["masked_text"] and "a.b@example.com" not in ticket["masked_text"]
    assert "SO-0001-000017" in ticket["masked_text"]
    assert ticket["text_length"] == len(f"{TICKET_SUBJECT}\n{TICKET_BODY}")
    assert all(r["analysed_at"] == AS_OF for r in rows.values())


def test_a_second_build_analyses_only_new_and_changed_texts(lake):
    later = AS_OF + timedelta(days=10)
    writer = LakeWriter(lake)
    writer.bronze("survey_responses", [_response("SR-2", "Staff were rude this time.", days_ago=-1)],
                  ingested_at=later)  # fmt: skip
    build_marts(lake, as_of=later, select="+cx_text_insights")
    rows = _rows(lake)

    assert rows["survey_responses:SR-1"]["analysed_at"] == AS_OF  # unchanged: kept
    assert rows["survey_responses:SR-2"]["analysed_at"] == later  # changed: analysed again
    assert rows["survey_responses:SR-2"]["sentiment_label"] == "negative"
    assert rows["survey_responses:SR-6"]["analysed_at"] == later  # now within as_of
    assert "[phone]" in rows["survey_responses:SR-6"]["masked_text"]
