"""The cdp command line: real commands on a tiny landing zone and lake, and clear errors for bad arguments."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cdp.cli import app
from cdp.lake import Lake
from ingest.job import ingest_lock

runner = CliRunner()
EVENTS = [
    {"type": "track", "messageId": "m1", "userId": "u1", "event": "Signed Up", "timestamp": "2025-01-01T00:00:00Z"},
    {"type": "track", "messageId": "m2", "userId": "u1", "timestamp": "2025-01-01T00:00:00Z"},  # no event name
]


def test_run_ingests_checks_and_status_shows_the_tables(tmp_path, landing, write_file):
    write_file("events", "a.jsonl", EVENTS)
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["run", "--landing", str(landing), "--lake", str(lake)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "counts reconcile" in result.output and "FAIL" not in result.output
    assert "customers" in result.output and "Identity run" in result.output  # cdp run resolves identities too
    status = runner.invoke(app, ["status", "--lake", str(lake)], terminal_width=200)
    assert status.exit_code == 0
    assert "bronze.events" in status.output and "quarantine.events" in status.output
    again = runner.invoke(app, ["ingest", "--landing", str(landing), "--lake", str(lake)])
    assert "Nothing new in the landing zone." in again.output


def test_unknown_source_and_table_names_are_clear_usage_errors(tmp_path):
    unknown = runner.invoke(app, ["ingest", "--source", "tweets", "--lake", str(tmp_path)], terminal_width=200)
    assert unknown.exit_code == 2 and "unknown source 'tweets'" in unknown.output
    history = runner.invoke(app, ["history", "silver", "--lake", str(tmp_path)], terminal_width=200)
    assert history.exit_code == 2 and "is not a table name" in history.output


def test_a_busy_lake_is_a_one_line_error_not_a_traceback(tmp_path, landing, write_file):
    write_file("events", "a.jsonl", EVENTS)
    lake = Lake(tmp_path / "lake")
    with ingest_lock(lake):
        result = runner.invoke(app, ["ingest", "--landing", str(landing), "--lake", str(lake.root)])
    assert result.exit_code == 1
    assert "another ingest is running on this lake" in result.output and "Traceback" not in result.output


def test_contracts_print_as_json_schema():
    result = runner.invoke(app, ["contracts", "orders", "--json-schema"])
    schema = json.loads(result.output)["orders"]
    assert schema["required"] == ["order_id", "channel", "ordered_at", "status", "currency", "total_amount"]
    assert schema["properties"]["channel"]["enum"] == ["web", "app", "store"]


def test_identity_commands_explain_evaluate_and_clear_errors(tmp_path, landing, write_file):
    write_file("events", "a.jsonl", EVENTS)
    lake = tmp_path / "lake"
    assert runner.invoke(app, ["run", "--landing", str(landing), "--lake", str(lake)]).exit_code == 0
    truth = tmp_path / "truth.csv"
    truth.write_text("source,source_record_id,person_id\nevents,m1,P1\nevents,m2,P1\n")
    scored = runner.invoke(app, ["identity", "evaluate", "--truth", str(truth), "--lake", str(lake), "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["all records"]["pairwise_f1"] == 0.0  # m2 was quarantined: nothing to pair
    explained = runner.invoke(app, ["identity", "explain", "--customer-id", "nobody", "--lake", str(lake)])
    assert explained.exit_code == 1 and "no customer 'nobody'" in explained.output
    bad_truth = tmp_path / "bad.csv"
    bad_truth.write_text("a,b\n1,2\n")
    bad = runner.invoke(
        app, ["identity", "evaluate", "--truth", str(bad_truth), "--lake", str(lake)], terminal_width=200
    )
    assert bad.exit_code == 1 and "the header must name source, source_record_id" in " ".join(bad.output.split())
