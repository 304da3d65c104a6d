"""Parsing framed records into one text column per contract field (DuckDB's JSON reader), on Arrow tables: what a
field's text is for every kind of JSON value, which fields are trimmed, and which records are not JSON objects."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from ingest.contracts import EVENTS, SURVEY_RESPONSES
from ingest.framing import FRAMED_ARROW_SCHEMA, frame_csv
from ingest.parsing import NOT_AN_OBJECT, RecordParser, frame_and_parse

EVENT = {"type": "track", "messageId": "m1", "anonymousId": "a1", "event": "Viewed", "timestamp": "2025-03-01"}


def framed(raws: list[str | None], errors: dict[int, str] | None = None, records: list[str | None] | None = None):
    """Framed rows of one file as the framing step emits them; record i is on line i + 1."""
    n = len(raws)
    return pa.table(
        {
            "_file_order": pa.array([0] * n, pa.int32()),
            "_source_file": ["f.jsonl"] * n,
            "_file_checksum": ["sum"] * n,
            "_row_number": pa.array(range(1, n + 1), pa.int64()),
            "_raw": pa.array(raws, pa.string()),
            "_record": pa.array(records or [None] * n, pa.string()),
            "_frame_error": pa.array([(errors or {}).get(i) for i in range(n)], pa.string()),
        },
        schema=FRAMED_ARROW_SCHEMA,
    )


@pytest.fixture(scope="module")
def parse_events():
    parser = RecordParser(EVENTS)
    yield lambda table: parser.parse(table).to_pylist()
    parser.close()


def test_every_kind_of_json_value_becomes_text(parse_events):
    record = {
        **EVENT,
        "userId": 42,
        "event": True,
        "properties": {"price": 11.5, "tags": ["a", "b"], "note": 'café "x"'},
        "traits": None,
        "groupId": ["g1"],
    }
    (row,) = parse_events(framed([json.dumps(record)]))
    assert (row["userId"], row["event"], row["groupId"], row["traits"], row["name"]) == (
        "42",
        "true",
        '["g1"]',
        None,
        None,
    )
    assert json.loads(row["properties"]) == record["properties"]  # an object is kept whole as JSON text
    assert row["_frame_error"] is None and row["_raw"] == json.dumps(record)


def test_typed_required_and_enum_fields_are_trimmed_and_free_text_is_kept_as_sent(parse_events):
    record = {**EVENT, "type": " track ", "messageId": "   ", "timestamp": " 2025-03-01 ", "event": " Viewed "}
    record["context"] = {"channel": " web ", "ip": " 10.0.0.1 ", "device": {"id": "d1"}}
    (row,) = parse_events(framed([json.dumps(record)]))
    assert (row["type"], row["messageId"], row["timestamp"]) == ("track", None, "2025-03-01")  # "   " is missing
    assert (row["event"], row["context_ip"]) == (" Viewed ", " 10.0.0.1 ")  # optional free text: as sent
    assert (row["context_channel"], row["context_device_id"]) == ("web", "d1")  # nested paths, trimmed when enum


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "null", '"text"', "42", '{"type": "track"} trailing'])
def test_a_record_that_is_not_a_json_object_gets_one_framing_error_and_no_fields(parse_events, raw):
    (row,) = parse_events(framed([raw]))
    assert row["_frame_error"] == NOT_AN_OBJECT
    assert all(row[name] is None for name in EVENTS.field_names)
    assert row["_raw"] == raw  # kept for the quarantine


def test_an_empty_object_and_leading_whitespace_are_objects(parse_events):
    rows = parse_events(framed(["{}", ' \t{"type": "page"}']))
    assert [(r["_frame_error"], r["type"]) for r in rows] == [(None, None), (None, "page")]


def test_a_nested_parent_that_is_not_an_object_gives_null_nested_fields(parse_events):
    (row,) = parse_events(framed([json.dumps({**EVENT, "context": "web"})]))
    assert (row["context"], row["context_channel"], row["_frame_error"]) == ("web", None, None)


def test_a_repeated_key_reads_its_first_value(parse_events):
    (row,) = parse_events(framed(['{"type": "track", "type": "page"}']))
    assert row["type"] == "track"


def test_rows_with_a_framing_error_pass_through_unparsed(parse_events):
    rows = parse_events(framed([json.dumps(EVENT), None], errors={1: "not valid UTF-8"}))
    assert [(r["_row_number"], r["_frame_error"], r["messageId"]) for r in rows] == [
        (1, None, "m1"),
        (2, "not valid UTF-8", None),
    ]


def test_every_row_keeps_its_own_fields_among_many_with_bad_lines_between(parse_events):
    raws = [json.dumps({**EVENT, "messageId": f"m{i}"}) if i % 7 else "{broken" for i in range(20_000)]
    rows = parse_events(framed(raws))
    assert [r["_row_number"] for r in rows] == list(range(1, 20_001))
    assert all(r["messageId"] == (f"m{i}" if i % 7 else None) for i, r in enumerate(rows))
    assert sum(r["_frame_error"] == NOT_AN_OBJECT for r in rows) == len(range(0, 20_000, 7))


def test_a_csv_row_is_parsed_from_its_record_and_keeps_its_raw_line():
    csv = "response_id,survey_type,score,comment,responded_at\nr1, NPS ,9, fine ,2025-01-01\n"
    records = frame_csv(csv, SURVEY_RESPONSES.field_names, SURVEY_RESPONSES.required_fields, 10_000)
    table = framed(records.column("_raw").to_pylist(), records=records.column("_record").to_pylist())
    parser = RecordParser(SURVEY_RESPONSES)
    (row,) = parser.parse(table).to_pylist()
    parser.close()
    assert (row["response_id"], row["survey_type"], row["score"], row["comment"]) == ("r1", "NPS", "9", " fine ")
    assert row["_raw"] == "r1, NPS ,9, fine ,2025-01-01"


def test_frame_and_parse_reads_files_with_their_lineage_and_rejects_a_bad_one(tmp_path):
    good = tmp_path / "a.jsonl.gz"
    good.write_bytes(gzip.compress(b"\xef\xbb\xbf" + (json.dumps(EVENT) + "\n\n{oops\n").encode()))
    listing = pa.record_batch(
        {
            "_file_order": pa.array([0, 1], pa.int32()),
            "path": [str(good), str(tmp_path / "gone.jsonl")],
            "checksum": ["c0", "c1"],
        }
    )
    rows = [r for b in frame_and_parse(EVENTS, 10_000)(iter([listing])) for r in b.to_pylist()]
    assert [(r["_source_file"], r["_row_number"], r["_file_checksum"], r["messageId"]) for r in rows] == [
        (str(good), 1, "c0", "m1"),
        (str(good), 3, "c0", None),
        (str(tmp_path / "gone.jsonl"), None, "c1", None),
    ]
    assert rows[1]["_frame_error"] == NOT_AN_OBJECT
    assert rows[2]["_frame_error"].startswith("unreadable file")


def test_records_whose_key_repeats_in_the_file_are_flagged(parse_events):
    ids = ["m1", "m2", " m1", None, None, "m3"]
    rows = parse_events(framed([json.dumps({**EVENT, "messageId": i}) for i in ids]))
    assert [r["_key_repeated"] for r in rows] == [True, False, True, False, False, False]  # compared trimmed
