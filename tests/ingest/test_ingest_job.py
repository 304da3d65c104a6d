"""The bronze ingest job against a real landing folder, Delta lake and Spark engine: every bad-input case of the
issue gives a clear reason naming file, line and field, quarantines what it must, and reconciles."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from ingest.contracts import SOURCES
from ingest.job import INGESTED, REJECTED, SKIPPED, IngestAlreadyRunning, IngestReport, ingest_lock, run_ingest

EVENT = {
    "type": "track",
    "messageId": "m1",
    "anonymousId": "a1",
    "event": "Product Viewed",
    "timestamp": "2025-03-01T10:00:00Z",
}
ORDER = {
    "order_id": "o1",
    "channel": "store",
    "ordered_at": "2025-01-01T00:00:00Z",
    "status": "paid",
    "currency": "VND",
    "total_amount": 1000,
    "lines": [],
}
SURVEY_HEADER = "response_id,survey_type,score,comment,email,responded_at"


def events(*ids: str, **changes) -> list[dict]:
    return [{**EVENT, "messageId": i, **changes} for i in ids]


def ingest(spark, lake: Lake, landing, **kw) -> IngestReport:
    report = run_ingest(spark, lake, landing, **kw)
    assert report.reconciles, [f for f in report.files if not f.reconciles]
    return report


def rows(lake: Lake, table) -> list[dict]:
    return DeltaTable(lake.uri(table)).to_pyarrow_table().to_pylist() if lake.exists(table) else []


def quarantine(lake: Lake, source: str) -> list[tuple[str, int | None, str]]:
    return sorted(
        (
            (r["_source_file"].rsplit("/", 1)[-1], r["_row_number"], r["_error_summary"])
            for r in rows(lake, layout.quarantine(source))
        ),
        key=lambda t: (t[0], t[1] or 0),
    )


def test_good_and_bad_rows_split_with_lineage_and_a_log_that_reconciles(spark, lake, landing, write_file):
    write_file(
        "events",
        "a.jsonl",
        [
            *events("m1", "m2"),
            {**EVENT, "messageId": None},
            {**EVENT, "messageId": "m3", "type": "click"},
            {**EVENT, "messageId": "m4", "timestamp": "31/02/2025 25:61"},
        ],
    )
    report = ingest(spark, lake, landing, sources=["events"])
    (outcome,) = report.files
    assert (outcome.status, outcome.records_in, outcome.accepted, outcome.quarantined) == (INGESTED, 5, 2, 3)
    assert quarantine(lake, "events") == [
        ("a.jsonl", 3, "messageId: missing required field"),
        ("a.jsonl", 4, "type: expected one of track|identify|page|screen|alias|group, got 'click'"),
        ("a.jsonl", 5, "timestamp: expected an ISO-8601 timestamp, got '31/02/2025 25:61'"),
    ]
    bronze = rows(lake, layout.bronze("events"))
    assert sorted((r["messageId"], r["_row_number"], r["_ingest_run_id"]) for r in bronze) == [
        ("m1", 1, report.run_id),
        ("m2", 2, report.run_id),
    ]
    assert {r["_file_checksum"] for r in bronze} == {outcome.checksum}
    (log,) = rows(lake, layout.INGEST_LOG)
    assert (log["records_in"], log["accepted"], log["quarantined"], log["status"]) == (5, 2, 3, INGESTED)


def test_duplicate_message_ids_within_a_file_across_files_and_across_runs(spark, lake, landing, write_file):
    write_file("events", "a.jsonl", events("m1", "m2", "m1"))
    write_file("events", "b.jsonl", events("m2", "m3"))
    ingest(spark, lake, landing)
    write_file("events", "c.jsonl", events("m3", "m4"))
    ingest(spark, lake, landing)
    assert sorted(r["messageId"] for r in rows(lake, layout.bronze("events"))) == ["m1", "m2", "m3", "m4"]
    assert quarantine(lake, "events") == [
        ("a.jsonl", 3, "messageId: duplicate messageId: first seen in " + str(landing / "events/a.jsonl") + " line 1"),
        ("b.jsonl", 1, "messageId: duplicate messageId: first seen in " + str(landing / "events/a.jsonl") + " line 2"),
        ("c.jsonl", 1, "messageId: duplicate messageId: already ingested in an earlier run"),
    ]


def test_a_quarantined_duplicate_keeps_its_raw_text_as_it_arrived(spark, lake, landing, write_file):
    # Valid rows are checkpointed without their raw text: a duplicate found in another file or run reads it again.
    write_file("events", "a.jsonl", events("m1", "m2"))
    ingest(spark, lake, landing)
    lines = [json.dumps(e) for e in events("m1", "m3", "m3", "m2", "m4")]
    lines[0] = "\ufeff" + lines[0] + "  \r"  # a byte-order mark, trailing spaces and a CR are part of the file
    lines[2] = lines[2].replace('"m3"', '" m3 "')  # the same key, other text
    write_file("events", "b.jsonl.gz", "\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    write_file("events", "c.jsonl", [{**EVENT, "messageId": "m4", "event": "Copy"}])
    ingest(spark, lake, landing)
    raw = {
        (r["_source_file"].rsplit("/", 1)[-1], r["_row_number"]): r["_raw"]
        for r in rows(lake, layout.quarantine("events"))
    }
    assert raw == {
        ("b.jsonl.gz", 1): lines[0].removeprefix("\ufeff").removesuffix("\r"),  # already ingested in a.jsonl
        ("b.jsonl.gz", 3): lines[2],  # the second m3 of the file
        ("b.jsonl.gz", 5): lines[3],  # m2, already ingested (line 4 is blank)
        ("c.jsonl", 1): json.dumps({**EVENT, "messageId": "m4", "event": "Copy"}),  # m4 is in b.jsonl.gz line 6
    }


def test_the_same_file_twice_is_skipped_under_its_name_and_under_another(spark, lake, landing, write_file):
    first = write_file("events", "a.jsonl", events("m1"))
    ingest(spark, lake, landing)
    again = ingest(spark, lake, landing)
    assert again.files == []  # nothing new: the file is known by its checksum
    shutil.copy(first, landing / "events" / "copy-of-a.jsonl")
    report = ingest(spark, lake, landing)
    assert [(f.status, f.reason) for f in report.files] == [(SKIPPED, f"same content as {first}")]
    assert len(rows(lake, layout.bronze("events"))) == 1
    assert ingest(spark, lake, landing).files == []  # the skip is logged once, not on every run


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "truncated.jsonl.gz",
            gzip.compress(b'{"a": 1}\n' * 5000)[:-30],
            "truncated gzip: the file ends before the end-of-stream marker",
        ),
        (
            "latin1.jsonl",
            '{"type": "track", "event": "Café"}\n'.encode("latin-1"),
            "not valid UTF-8: byte 0xe9 at offset 31 (line 1); re-export the file as UTF-8",
        ),
        ("empty.jsonl", b"", "empty file: no records"),
        ("notes.txt", b"hello", "unsupported file type: events accepts *.jsonl, *.jsonl.gz"),
    ],
)
def test_a_whole_bad_file_is_quarantined_with_its_reason_and_never_stops_the_run(
    spark, lake, landing, write_file, name, content, reason
):
    write_file("events", name, content)
    write_file("events", "good.jsonl", events("m1"))
    report = ingest(spark, lake, landing)
    outcomes = {f.file_path.rsplit("/", 1)[-1]: f for f in report.files}
    assert (outcomes[name].status, outcomes[name].reason) == (REJECTED, reason)
    assert outcomes["good.jsonl"].accepted == 1
    assert quarantine(lake, "events") == [(name, None, f"_record: {reason}")]
    log = {r["file_path"].rsplit("/", 1)[-1]: r for r in rows(lake, layout.INGEST_LOG)}
    assert (log[name]["status"], log[name]["reason"]) == (REJECTED, reason)


def test_csv_with_unknown_or_missing_columns_and_rows_with_extra_or_missing_fields(spark, lake, landing, write_file):
    write_file("survey_responses", "unknown.csv", SURVEY_HEADER + ",colour\nr1,NPS,9,,,2025-01-01,red\n")
    write_file("survey_responses", "missing.csv", "response_id,score,responded_at\nr1,9,2025-01-01\n")
    write_file(
        "survey_responses",
        "rows.csv",
        SURVEY_HEADER + "\nr1,NPS,9,great,a@b.vn,2025-01-01\nr2,NPS,9,x,a@b.vn,2025-01-01,extra\nr3,NPS,9\n",
    )
    report = ingest(spark, lake, landing)
    assert {
        f.file_path.rsplit("/", 1)[-1]: (f.status, f.records_in, f.accepted, f.quarantined) for f in report.files
    } == {"missing.csv": (REJECTED, 0, 0, 0), "unknown.csv": (REJECTED, 0, 0, 0), "rows.csv": (INGESTED, 3, 1, 2)}
    q = quarantine(lake, "survey_responses")
    assert q[0][0] == "missing.csv" and q[0][2] == "_record: missing required columns: survey_type"
    assert q[1:3] == [
        ("rows.csv", 3, "_record: expected 6 fields as in the header, found 7"),
        ("rows.csv", 4, "_record: expected 6 fields as in the header, found 3"),
    ]
    assert q[3][0] == "unknown.csv" and q[3][2].startswith("_record: unknown columns: colour; the contract allows:")
    raw = {r["_row_number"]: r["_raw"] for r in rows(lake, layout.quarantine("survey_responses"))}
    assert raw[3] == "r2,NPS,9,x,a@b.vn,2025-01-01,extra"


def test_a_10_mb_single_line_is_quarantined_with_its_size_and_the_rest_kept(spark, lake, landing, write_file):
    huge = {**EVENT, "messageId": "big", "properties": {"blob": "x" * 10_500_000}}
    write_file("events", "huge.jsonl", [huge, *events("m1")])
    report = ingest(spark, lake, landing, max_record_bytes=1_048_576)
    assert (report.files[0].accepted, report.files[0].quarantined) == (1, 1)
    assert quarantine(lake, "events") == [
        ("huge.jsonl", 1, "_record: record is 10.5 MB, over the 1.0 MB limit (CDP_MAX_RECORD_BYTES)")
    ]
    assert len(rows(lake, layout.quarantine("events"))[0]["_raw"]) > 10_000_000  # nothing lost


def test_any_subset_of_sources_is_a_valid_landing_zone(spark, lake, landing, write_file):
    write_file("orders", "o.jsonl", [ORDER])
    report = ingest(spark, lake, landing)
    assert [(f.source, f.accepted) for f in report.files] == [("orders", 1)]
    assert [t.qualified_name for t in lake.tables()] == ["audit.ingest_log", "audit.ingest_runs", "bronze.orders"]
    assert ingest(spark, lake, landing.parent / "no-such-landing").files == []


def test_sources_ingested_side_by_side_report_in_source_order_and_skip_a_file_seen_in_an_earlier_source(
    spark, lake, landing, write_file
):
    write_file("orders", "o.jsonl", [ORDER, {**ORDER, "order_id": None}])
    first = write_file("events", "a.jsonl", events("m1", "m2"))
    shutil.copy(first, landing / "orders" / "a-copy.jsonl")  # events come first: the copy under orders is skipped
    write_file("survey_responses", "s.csv", SURVEY_HEADER + "\nr1,NPS,9,,,2025-01-01\n")
    calls = []
    report = ingest(spark, lake, landing, progress=lambda *call: calls.append(call))
    assert [(f.source, f.file_path.rsplit("/", 1)[-1], f.status, f.accepted, f.quarantined) for f in report.files] == [
        ("events", "a.jsonl", INGESTED, 2, 0),
        ("orders", "a-copy.jsonl", SKIPPED, 0, 0),
        ("orders", "o.jsonl", INGESTED, 1, 1),
        ("survey_responses", "s.csv", INGESTED, 1, 0),
    ]
    assert quarantine(lake, "orders") == [("o.jsonl", 2, "order_id: missing required field")]
    assert len(rows(lake, layout.bronze("survey_responses"))) == 1
    total = len(SOURCES)
    assert sorted(name for name, _, _ in calls[:-1]) == sorted(SOURCES)  # each source once, as it finishes
    assert [(done, of) for _, done, of in calls[:-1]] == [(done, total) for done in range(1, total + 1)]
    assert calls[-1] == ("done", total, total)


def test_rows_of_an_interrupted_run_are_rolled_back_before_the_next(spark, lake, landing, write_file):
    write_file("events", "a.jsonl", events("m1", "m2"))
    crashed = ingest(spark, lake, landing)
    # Simulate a crash after the bronze write and before the log: forget the log and the completion record.
    shutil.rmtree(lake.path(layout.INGEST_LOG))
    runs = DeltaTable(lake.uri(layout.INGEST_RUNS))
    runs.delete(f"run_id = '{crashed.run_id}' AND event = 'completed'")
    retry = ingest(spark, lake, landing)
    assert retry.rolled_back_runs == [crashed.run_id]
    bronze = rows(lake, layout.bronze("events"))
    assert sorted(r["messageId"] for r in bronze) == ["m1", "m2"]
    assert {r["_ingest_run_id"] for r in bronze} == {retry.run_id}


def test_a_second_ingest_on_the_same_lake_fails_clearly_instead_of_rolling_back_a_live_run(
    spark, lake, landing, write_file
):
    write_file("events", "a.jsonl", events("m1"))
    with ingest_lock(lake), pytest.raises(IngestAlreadyRunning, match=r"another ingest is running on this lake \(pid"):
        run_ingest(spark, lake, landing)
    assert not lake.exists(layout.bronze("events"))
    assert ingest(spark, lake, landing).total("accepted") == 1  # the lock is released afterwards
