"""Row-level contract checks as pure DataFrame transforms on inline rows (run on Sail and on JVM Spark)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from ingest.contracts import EVENTS, ORDERS, SURVEY_RESPONSES, SourceContract
from ingest.framing import FRAMED_SCHEMA
from ingest.validation import (
    accepted_rows,
    flag_duplicates,
    parse_records,
    per_file_counts,
    quarantined_rows,
    type_and_check,
    validate,
)

pytestmark = pytest.mark.transforms


def framed(spark, records: list[str | dict | None], file: str = "f.jsonl", frame_errors: dict[int, str] | None = None):
    """Framed rows as the framing step emits them; record i is on line i + 1."""
    frame_errors = frame_errors or {}
    rows = [
        (0, file, "sum", i + 1, r if isinstance(r, str) else json.dumps(r), None, frame_errors.get(i))
        for i, r in enumerate(records)
    ]
    return spark.createDataFrame(rows, FRAMED_SCHEMA)


def errors_by_line(df) -> dict[int, list[tuple[str, str]]]:
    return {r._row_number: [(e.field, e.reason) for e in r._errors] for r in df.collect() if r._errors}


EVENT = {
    "type": "track",
    "messageId": "m1",
    "userId": "u1",
    "event": "Order Completed",
    "timestamp": "2025-03-01T10:00:00.123Z",
    "context": {"device": {"id": "d-1"}, "channel": "App", "ip": " "},
}


def test_valid_event_is_typed_with_context_fields_extracted(spark):
    out = validate(framed(spark, [EVENT]), EVENTS)
    row = out.collect()[0]
    assert row._errors == [] and row._problems == []
    assert row.timestamp == datetime(2025, 3, 1, 10, 0, 0, 123000)
    # Enumerations are trimmed and folded; optional free text is kept exactly as sent.
    assert (row.context_device_id, row.context_channel, row.context_ip) == ("d-1", "app", " ")
    assert json.loads(row.context)["device"] == {"id": "d-1"}  # the whole object is kept as JSON text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"messageId": None}, [("messageId", "missing required field")]),
        ({"messageId": "  "}, [("messageId", "missing required field")]),
        ({"type": "click"}, [("type", "expected one of track|identify|page|screen|alias|group, got 'click'")]),
        ({"timestamp": "31/02/2025 25:61"}, [("timestamp", "expected an ISO-8601 timestamp, got '31/02/2025 25:61'")]),
        ({"event": None}, [("event", "a track message needs event")]),
        ({"userId": None}, [("userId,anonymousId", "every message needs a userId or an anonymousId")]),
    ],
)
def test_required_field_and_rule_failures_name_the_field_and_reason(spark, change, expected):
    out = validate(framed(spark, [{**EVENT, **change}]), EVENTS)
    assert errors_by_line(out) == {1: expected}


def test_malformed_optional_field_is_nulled_and_recorded_and_the_row_kept(spark):
    out = validate(framed(spark, [{**EVENT, "sentAt": "yesterday", "context": {"channel": "fax"}}]), EVENTS)
    row = out.collect()[0]
    assert row._errors == []
    assert (row.sentAt, row.context_channel) == (None, None)
    assert [(p.field, p.reason) for p in row._problems] == [
        ("context_channel", "expected one of web|app|server, got 'fax'"),
        ("sentAt", "expected an ISO-8601 timestamp, got 'yesterday'"),
    ]


def test_a_line_that_is_not_a_json_object_gets_one_error_not_a_pile(spark):
    out = validate(framed(spark, ["{not json", "[1, 2]", "null"]), EVENTS)
    assert errors_by_line(out) == {n: [("_record", "malformed JSON: not a JSON object")] for n in (1, 2, 3)}


def test_frame_errors_pass_through_alone(spark):
    out = validate(framed(spark, [EVENT], frame_errors={0: "record is 10.5 MB, over the 1.0 MB limit"}), EVENTS)
    assert errors_by_line(out) == {1: [("_record", "record is 10.5 MB, over the 1.0 MB limit")]}


def test_enum_matching_ignores_case_and_stores_the_contract_spelling(spark):
    row = {"response_id": "r1", "survey_type": "nps", "score": "9", "responded_at": "2025-01-01T08:00:00+07:00"}
    out = validate(framed(spark, [row]), SURVEY_RESPONSES).collect()[0]
    assert (out.survey_type, out.score, out.responded_at) == ("NPS", 9, datetime(2025, 1, 1, 1, 0))


@pytest.mark.parametrize(
    ("survey_type", "score", "ok"),
    [
        ("NPS", "0", True),
        ("NPS", "11", False),
        ("CSAT", "0", False),
        ("CSAT", "5", True),
        ("CES", "7", True),
        ("CES", "8", False),
    ],
)
def test_survey_scores_out_of_range_are_quarantined_not_clamped(spark, survey_type, score, ok):
    row = {"response_id": "r1", "survey_type": survey_type, "score": score, "responded_at": "2025-01-01"}
    out = validate(framed(spark, [row]), SURVEY_RESPONSES)
    assert (errors_by_line(out) == {}) is ok


def test_wrong_type_in_a_required_number_is_quarantined(spark):
    row = {"response_id": "r1", "survey_type": "NPS", "score": "ten", "responded_at": "2025-01-01"}
    assert errors_by_line(validate(framed(spark, [row]), SURVEY_RESPONSES)) == {
        1: [("score", "expected an integer, got 'ten'")]
    }


def test_order_lines_are_typed_and_a_bad_line_nulls_the_lines_with_a_problem(spark):
    base = {
        "order_id": "o1",
        "channel": "web",
        "ordered_at": "2025-01-01T00:00:00Z",
        "status": "paid",
        "currency": "VND",
        "total_amount": "350000",
    }
    good = {**base, "lines": [{"sku": "A", "category": "shoes", "quantity": 2, "unit_price": 175000}]}
    bad = {**base, "order_id": "o2", "lines": [{"sku": "A", "quantity": "two", "unit_price": 1}]}
    as_text = {**base, "order_id": "o3", "lines": json.dumps(good["lines"])}  # CSV cells carry the JSON as text
    rows = {r.order_id: r for r in validate(framed(spark, [good, bad, as_text]), ORDERS).collect()}
    assert rows["o1"].lines == [Row(sku="A", category="shoes", quantity=2, unit_price=Decimal("175000.00"))]
    assert rows["o1"].total_amount == Decimal("350000.00")
    assert rows["o2"].lines is None and rows["o2"]._errors == []
    assert rows["o2"]._problems[0].field == "lines"
    assert rows["o3"].lines == rows["o1"].lines


def test_duplicates_within_a_batch_keep_the_first_valid_copy(spark):
    invalid_first = {**EVENT, "messageId": "m2", "timestamp": "bad"}
    records = [EVENT, {**EVENT, "event": "Copy"}, invalid_first, {**EVENT, "messageId": "m2"}]
    out = flag_duplicates(validate(framed(spark, records, file="a.jsonl"), EVENTS), "messageId", None)
    assert errors_by_line(out) == {
        2: [("messageId", "duplicate messageId: first seen in a.jsonl line 1")],
        3: [
            ("timestamp", "expected an ISO-8601 timestamp, got 'bad'"),
            ("messageId", "duplicate messageId: first seen in a.jsonl line 4"),
        ],
    }


def test_duplicates_of_an_earlier_run_are_flagged(spark):
    earlier = spark.createDataFrame([("m1",)], "messageId string")
    out = flag_duplicates(validate(framed(spark, [EVENT, {**EVENT, "messageId": "m9"}]), EVENTS), "messageId", earlier)
    assert errors_by_line(out) == {1: [("messageId", "duplicate messageId: already ingested in an earlier run")]}


def test_split_into_bronze_and_quarantine_and_count_per_file(spark):
    contract: SourceContract = SURVEY_RESPONSES
    good = {"response_id": "r1", "survey_type": "CSAT", "score": "4", "responded_at": "2025-01-01"}
    bad = {**good, "response_id": "r2", "score": "0"}
    validated = validate(framed(spark, [good, bad], file="s.csv"), contract)
    assertDataFrameEqual(accepted_rows(validated, contract).select("response_id", "_row_number"), [Row("r1", 1)])
    quarantined = quarantined_rows(validated).collect()
    assert [(q._source_file, q._row_number, q._error_summary) for q in quarantined] == [
        ("s.csv", 2, "score: score out of range for the survey type (NPS 0-10, CSAT 1-5, CES 1-7)")
    ]
    assert json.loads(quarantined[0]._raw) == bad  # the raw record is kept as it arrived
    assertDataFrameEqual(
        per_file_counts(validated),
        [Row(_source_file="s.csv", records_in=2, accepted=1, quarantined=1, suppressed=0, file_error=None)],
    )


def test_raw_text_of_valid_rows_can_be_left_out_except_where_a_key_repeats_in_the_file(spark):
    records = [EVENT, {**EVENT, "messageId": "m2", "type": "click"}, {**EVENT, "messageId": "m3"}, EVENT]
    one_batch = framed(spark, records).coalesce(1)  # the parser flags keys repeated within a batch
    out = type_and_check(parse_records(one_batch, EVENTS), EVENTS, raw_of_valid_rows=False)
    raw = {r._row_number: r._raw for r in out.collect()}
    assert raw == {1: json.dumps(EVENT), 2: json.dumps(records[1]), 3: None, 4: json.dumps(EVENT)}
