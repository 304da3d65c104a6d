"""Framing of landing files into records: line numbers, raw text, CSV header rules and whole-file rejections."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from ingest.contracts import SURVEY_RESPONSES
from ingest.framing import FileRejected, frame_csv, frame_files, frame_jsonl, jsonl_lines, raw_records, read_bytes

SURVEY_COLUMNS = SURVEY_RESPONSES.field_names
SURVEY_REQUIRED = SURVEY_RESPONSES.required_fields


def test_jsonl_lines_keep_their_file_line_numbers_and_skip_blank_lines():
    framed = frame_jsonl(b'{"a": 1}\r\n\n   \n{"b": 2}\n', max_record_bytes=1000).to_pylist()
    assert [(r["_row_number"], r["_raw"], r["_frame_error"]) for r in framed] == [
        (1, '{"a": 1}', None),
        (4, '{"b": 2}', None),
    ]


def test_jsonl_last_line_without_a_newline_and_trailing_spaces_are_kept():
    framed = frame_jsonl(b'{"a": 1}  \n\n{"b": 2}', max_record_bytes=1000).to_pylist()
    assert [(r["_row_number"], r["_raw"]) for r in framed] == [(1, '{"a": 1}  '), (3, '{"b": 2}')]


def test_jsonl_record_over_the_size_limit_is_an_error_naming_the_limit():
    framed = frame_jsonl(b'{"a": "' + b"x" * 2_000 + b'"}\n{"b": 1}', max_record_bytes=1_000).to_pylist()
    assert "over the 0.0 MB limit" in framed[0]["_frame_error"] and framed[1]["_frame_error"] is None


def test_jsonl_invalid_utf8_names_offset_and_line():
    with pytest.raises(FileRejected, match=r"not valid UTF-8: byte 0xff at offset 9 \(line 2\)"):
        frame_jsonl(b'{"a": 1}\n\xff{"b": 2}', max_record_bytes=1000)


def test_csv_record_with_quoted_newline_is_one_record_with_its_raw_text():
    text = (
        "response_id,survey_type,score,comment,responded_at\n"
        'r1,NPS,9,"great\nservice",2025-01-01\n'
        "r2,CES,3,,2025-01-02\n"
    )
    framed = frame_csv(text, SURVEY_COLUMNS, SURVEY_REQUIRED, 10_000).to_pylist()
    assert [r["_row_number"] for r in framed] == [2, 4]
    assert framed[0]["_raw"] == 'r1,NPS,9,"great\nservice",2025-01-01'
    assert json.loads(framed[0]["_record"])["comment"] == "great\nservice"
    assert json.loads(framed[1]["_record"])["comment"] is None  # an empty CSV cell is a missing value


def test_csv_row_with_extra_or_missing_field_is_a_row_error():
    text = "response_id,survey_type,score,responded_at\nr1,NPS,9,2025-01-01,extra\nr2,NPS\nr3,NPS,1,2025-01-01\n"
    framed = frame_csv(text, SURVEY_COLUMNS, SURVEY_REQUIRED, 10_000).to_pylist()
    assert [r["_frame_error"] for r in framed] == [
        "expected 4 fields as in the header, found 5",
        "expected 4 fields as in the header, found 2",
        None,
    ]
    assert framed[0]["_raw"] == "r1,NPS,9,2025-01-01,extra"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("response_id,survey_type,score,responded_at,colour", "unknown columns: colour"),
        ("response_id,score,responded_at", "missing required columns: survey_type"),
        ("response_id,survey_type,score,score,responded_at", "duplicated columns: score"),
    ],
)
def test_csv_header_problems_reject_the_whole_file(header: str, reason: str):
    with pytest.raises(FileRejected, match=reason):
        frame_csv(header + "\n", SURVEY_COLUMNS, SURVEY_REQUIRED, 10_000)


def test_truncated_gzip_and_empty_files_are_rejected(tmp_path):
    truncated = tmp_path / "a.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-20])
    with pytest.raises(FileRejected, match="truncated gzip"):
        read_bytes(str(truncated))
    empty = tmp_path / "b.jsonl"
    empty.write_bytes(b"\n  \n")
    with pytest.raises(FileRejected, match="empty file"):
        read_bytes(str(empty))
    not_gzip = tmp_path / "c.jsonl.gz"
    not_gzip.write_bytes(b'{"a": 1}')
    with pytest.raises(FileRejected, match="not a valid gzip file"):
        read_bytes(str(not_gzip))
    trailing = tmp_path / "d.jsonl.gz"  # bytes after the last member: ISA-L reads it as truncated, zlib does not
    trailing.write_bytes(gzip.compress(b'{"a": 1}\n') + b"junk")
    with pytest.raises(FileRejected, match="not a valid gzip file"):
        read_bytes(str(trailing))
    members = tmp_path / "e.jsonl.gz"  # concatenated members are one file
    members.write_bytes(gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n'))
    assert read_bytes(str(members)) == b'{"a": 1}\n{"b": 2}\n'


def test_frame_files_turns_a_rejected_file_into_one_row_with_a_null_line_number(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("response_id,survey_type,score,responded_at,wat\n")
    wrong_type = tmp_path / "y.xlsx"
    wrong_type.write_bytes(b"PK")
    listing = pa.record_batch(
        {"_file_order": pa.array([0, 1], pa.int32()), "path": [str(bad), str(wrong_type)], "checksum": ["c0", "c1"]}
    )
    rows = [r for b in frame_files(SURVEY_RESPONSES, 10_000)(iter([listing])) for r in b.to_pylist()]
    assert [(r["_source_file"], r["_row_number"], r["_file_checksum"]) for r in rows] == [
        (str(bad), None, "c0"),
        (str(wrong_type), None, "c1"),
    ]
    assert rows[0]["_frame_error"].startswith("unknown columns: wat")
    assert rows[1]["_frame_error"] == "unsupported file type: survey_responses accepts *.csv, *.csv.gz"


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_raw_text_read_again_from_a_file_is_the_framed_text(tmp_path, name):
    content = b'\xef\xbb\xbf{"a": 1}  \r\n\n{"b": "\xc3\xa9"}\n   \n{"c": 3}'
    path = tmp_path / name
    path.write_bytes(gzip.compress(content[:20]) + gzip.compress(content[20:]) if name.endswith(".gz") else content)
    framed = frame_jsonl(read_bytes(str(path)), max_record_bytes=1000)
    expected = dict(zip(framed.column("_row_number").to_pylist(), framed.column("_raw").to_pylist(), strict=True))
    assert expected == {1: '{"a": 1}  ', 3: '{"b": "é"}', 5: '{"c": 3}'}
    assert jsonl_lines(str(path), {1, 3, 5}) == expected
    assert jsonl_lines(str(path), {3}) == {3: expected[3]}


def test_raw_records_reads_jsonl_lines_and_csv_records_again_and_fails_on_a_changed_file(tmp_path):
    events, survey = tmp_path / "e.jsonl", tmp_path / "s.csv"
    events.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    survey.write_text('response_id,survey_type,score,comment,responded_at\nr1,NPS,9,"great\nservice",2025-01-01\n')
    asked = pa.RecordBatch.from_pydict(
        {"_source_file": [str(events), str(survey)], "_row_number": [2, 2]},
        schema=pa.schema([("_source_file", pa.string()), ("_row_number", pa.int64())]),
    )
    found = pa.Table.from_batches(list(raw_records(SURVEY_RESPONSES, 10_000)(iter([asked])))).to_pylist()
    assert found == [
        {"_source_file": str(events), "_row_number": 2, "_raw": '{"b": 2}'},
        {"_source_file": str(survey), "_row_number": 2, "_raw": 'r1,NPS,9,"great\nservice",2025-01-01'},
    ]
    events.write_bytes(b'{"a": 1}\n')
    with pytest.raises(RuntimeError, match="lines \\[2\\] are gone"):
        list(raw_records(SURVEY_RESPONSES, 10_000)(iter([asked])))
