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


def _analyses(lake: Lake) -> dict[str, dict]:
    """gold.cx_text_insights without analysed_at (when a text was analysed differs between the two ways)."""
    return {key: {k: v for k, v in row.items() if k != "analysed_at"} for key, row in _rows(lake).items()}


def _first_texts(writer: LakeWriter) -> None:
    writer.bronze("survey_responses", [_response("SR-1", "Giao hàng quá chậm, rất thất vọng 😡", ref="cus_1"),
                                       _response("SR-2", "Great staff, fast delivery!"),
                                       _response("SR-3", "Shop đóng cửa sớm")])  # fmt: skip
    writer.bronze("support_tickets", [_ticket("TCK-1", TICKET_SUBJECT, TICKET_BODY)])
    writer.link("cus_1", "survey_responses", "SR-1", ts("2025-06-20T00:00:00"))
    writer.write_identity()


def _later_texts(writer: LakeWriter, later) -> None:
    writer.bronze("survey_responses", [_response("SR-2", "Staff were rude this time.", days_ago=-1),
                                       _response("SR-4", "Nhân viên thân thiện, sẽ quay lại", days_ago=-2)],
                  ingested_at=later)  # fmt: skip
    writer.bronze("support_tickets", [_ticket("TCK-2", "Where is my parcel?", "Tracking shows nothing", days_ago=-3)],
                  ingested_at=later)  # fmt: skip


def test_incremental_analyses_equal_a_full_build_and_gone_texts_leave(tmp_path, monkeypatch):
    """Texts added, changed and deleted between two builds: the second (incremental) build's rows are exactly those
    of one build of the final lake; a changed topic taxonomy then re-analyses every text."""
    from deltalake import DeltaTable

    from cx import text_analytics, text_insights

    later = AS_OF + timedelta(days=10)
    step = Lake(tmp_path / "step" / "lake")
    writer = LakeWriter(step)
    _first_texts(writer)
    build_marts(step, as_of=AS_OF, select="+cx_text_insights")
    _later_texts(writer, later)
    # a text gone from its source (as after an erasure at bronze) must not survive in the incremental model
    DeltaTable(step.uri(layout.bronze("survey_responses"))).delete("response_id = 'SR-3'")
    # gold is not where the analyses come from in an incremental build: empty it to prove it
    DeltaTable(step.uri(layout.CX_TEXT_INSIGHTS)).delete()
    build_marts(step, as_of=later, select="+cx_text_insights")

    once = Lake(tmp_path / "once" / "lake")
    writer = LakeWriter(once)
    _first_texts(writer)
    _later_texts(writer, later)
    DeltaTable(once.uri(layout.bronze("survey_responses"))).delete("response_id = 'SR-3'")
    build_marts(once, as_of=later, select="+cx_text_insights")

    stepped = _rows(step)
    assert "survey_responses:SR-3" not in stepped
    assert stepped["survey_responses:SR-1"]["analysed_at"] == AS_OF  # kept from the model's last result
    assert stepped["survey_responses:SR-2"]["analysed_at"] == later  # changed text: analysed again
    assert _analyses(step) == _analyses(once)
    assert len(stepped) == 5

    # a new topic in the taxonomy: a new analyser version, so every text is analysed again
    taxonomy = text_analytics.TOPICS_FILE.read_text(encoding="utf-8")
    changed = tmp_path / "topics.yaml"
    changed.write_text(taxonomy + "  rudeness:\n    label: Rudeness\n    en: [rude]\n    vi: [thô lỗ]\n", "utf-8")
    monkeypatch.setattr(text_analytics, "TOPICS_FILE", changed)
    monkeypatch.setattr(text_analytics, "_topics", lambda: text_analytics.load_topics(changed))
    text_insights.analyser_version.cache_clear()
    try:
        build_marts(step, as_of=later + timedelta(days=1), select="+cx_text_insights")
        rows = _rows(step)
    finally:
        text_insights.analyser_version.cache_clear()
    assert {row["analysed_at"] for row in rows.values()} == {later + timedelta(days=1)}
    assert {row["analyser_version"] for row in rows.values()} != {row["analyser_version"] for row in stepped.values()}
    assert "rudeness" in rows["survey_responses:SR-2"]["topics"]
    assert "rudeness" not in stepped["survey_responses:SR-2"]["topics"]


def test_a_full_refresh_reuses_the_analyses_in_gold(lake):
    """--full-refresh drops the incremental model; the analyses come back from gold.cx_text_insights, unchanged."""
    before = _rows(lake)
    build_marts(lake, as_of=AS_OF + timedelta(days=10), select="+cx_text_insights", full_refresh=True)
    after = _rows(lake)

    assert {key: after[key] for key in before} == before
    assert after["survey_responses:SR-1"]["analysed_at"] == AS_OF
