"""Exports on a small real lake: dry run, audit, sync modes, withdrawal -> removal, hashed file drops."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from activation.destinations import FileDrop, sha256_identifier
from activation.explain import explain
from activation.export import export_audience
from activation.rules import load_rules
from cdp import lake as layout
from tests.activation.conftest import SEND_AT, ActivationLake

RULES = load_rules()
DAY = timedelta(days=1)
AUDIENCES = [("spring_sale", "marketing", "email", 10), ("vip", "marketing", "email", 5)]


def _files(folder: Path, op: str) -> list[Path]:
    return sorted(folder.glob(f"spring_sale/*-{op}.*"))


def _csv_ids(paths: list[Path]) -> list[str]:
    return sorted(row["customer_id"] for p in paths for row in csv.DictReader(p.open()))


def _setup(a: ActivationLake) -> None:
    for c in ("c1", "c2", "c3", "c4", "c5"):
        a.consent(c, "granted", SEND_AT - 30 * DAY)
    a.consent("c3", "withdrawn", SEND_AT - DAY)
    a.message("c4", SEND_AT - DAY)
    a.message("c4", SEND_AT - 2 * DAY)
    a.write(
        ["c1", "c2", "c3", "c4", "c5", "c6"],
        AUDIENCES,
        [("spring_sale", c) for c in ("c1", "c2", "c3", "c4", "c5", "c6")] + [("vip", "c5")],
    )


def test_dry_run_counts_and_writes_nothing(activation_lake: ActivationLake) -> None:
    _setup(activation_lake)
    lake = activation_lake.lake
    folder = lake.exports_dir() / "files"
    report = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT, dry_run=True)
    assert report.counts == {
        "eligible": 2,
        "consent_withdrawn": 1,
        "frequency_cap:marketing_email_7d": 1,
        "higher_priority_audience": 1,
        "no_consent": 1,
    }
    assert not folder.exists()
    assert not lake.exists(layout.ACTIVATION_DECISIONS)
    assert not lake.exists(layout.ACTIVATION_SYNCS)


def test_export_audits_every_member_and_sends_only_the_eligible(activation_lake: ActivationLake) -> None:
    _setup(activation_lake)
    lake = activation_lake.lake
    folder = lake.exports_dir() / "files"
    report = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT, run_by="ann")
    assert (report.status, report.upserts, report.removals) == ("completed", 2, 0)
    assert _csv_ids(_files(folder, "upsert")) == ["c1", "c2"]
    rows = sorted(DeltaTable(lake.uri(layout.ACTIVATION_DECISIONS)).to_pyarrow_table().to_pylist(),
                  key=lambda r: r["customer_id"])  # fmt: skip
    assert [(r["customer_id"], r["decision"], r["reason"]) for r in rows] == [
        ("c1", "send", "eligible"),
        ("c2", "send", "eligible"),
        ("c3", "suppress", "consent_withdrawn"),
        ("c4", "suppress", "frequency_cap:marketing_email_7d"),
        ("c5", "suppress", "higher_priority_audience"),
        ("c6", "suppress", "no_consent"),
    ]
    assert rows[0]["consent_id"] is not None and rows[0]["rule_version"] == RULES.version
    assert (rows[3]["cap_count"], rows[3]["cap_limit"]) == (2, 2)
    assert all(r["destination"] == "files" and r["purpose"] == "marketing" for r in rows)
    # The sync's constants on every row (built beside the decisions, not by the decision query).
    assert {(r["sync_id"], r["audience_name"], r["channel"], r["send_time"]) for r in rows} == {
        (report.sync_id, "spring_sale", "email", SEND_AT)
    }
    assert set(report.cpu_seconds) == set(report.seconds) >= {"inputs", "decide", "audit", "plan", "deliver"}
    syncs = DeltaTable(lake.uri(layout.ACTIVATION_SYNCS)).to_pyarrow_table().to_pylist()
    assert [s["status"] for s in syncs] == ["started", "completed"] or sorted(s["status"] for s in syncs) == [
        "completed",
        "started",
    ]
    done = next(s for s in syncs if s["status"] == "completed")
    assert done["run_by"] == "ann" and json.loads(done["counts_json"])["eligible"] == 2

    why = explain(lake, RULES, "spring_sale", "c4", SEND_AT)
    assert why.now is not None and why.now["reason"] == "frequency_cap:marketing_email_7d"
    assert [h["reason"] for h in why.history] == ["frequency_cap:marketing_email_7d"]


def test_withdrawal_is_removed_on_the_next_mirror_sync_and_diff_sends_only_changes(
    activation_lake: ActivationLake,
) -> None:
    _setup(activation_lake)
    lake = activation_lake.lake
    folder = lake.exports_dir() / "files"
    export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT)
    # Nothing changed: a diff sync sends nothing.
    again = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT, mode="diff")
    assert (again.upserts, again.removals, again.batches) == (0, 0, 0)
    # c2 withdraws (the event arrives later but happened before the send time); c6 grants.
    activation_lake.consents.clear()
    activation_lake.consent("c2", "withdrawn", SEND_AT + DAY)
    activation_lake.consent("c6", "granted", SEND_AT + DAY)
    activation_lake.writer.bronze("consent_events", activation_lake.consents)
    activation_lake.writer.write_identity()
    activation_lake.build_history()  # the next build resolves them to customers
    later = SEND_AT + 2 * DAY
    report = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=later, mode="mirror")
    assert (report.upserts, report.removals) == (2, 1)  # c1 again (mirror sends the full list) and c6; c2 removed
    assert _csv_ids(_files(folder, "remove")) == ["c2"]
    diff = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=later, mode="diff")
    assert (diff.upserts, diff.removals) == (0, 0)


def _batches(folder: Path, op: str) -> list[list[str]]:
    """The customer_ids of each batch file, in file order; the batches ordered by their first id."""
    return sorted([row["customer_id"] for row in csv.DictReader(p.open())] for p in _files(folder, op))


def test_batches_hold_people_in_customer_id_order(activation_lake: ActivationLake) -> None:
    """Batch keys depend on the order of people (a resumed sync must make the same batches): upserts and removals
    go out in customer_id byte order ('c10' before 'c2'), each batch a slice of it."""
    people = [f"c{i}" for i in range(1, 13)]  # written to the lake in numeric order, not in byte order
    for c in people:
        activation_lake.consent(c, "granted", SEND_AT - 30 * DAY)
    activation_lake.write(people, AUDIENCES, [("spring_sale", c) for c in people])
    lake = activation_lake.lake
    folder = lake.exports_dir() / "files"
    export_audience(lake, RULES, "spring_sale", FileDrop("files", folder, batch_size=5), send_time=SEND_AT)
    assert _batches(folder, "upsert") == [
        ["c1", "c10", "c11", "c12", "c2"],
        ["c3", "c4", "c5", "c6", "c7"],
        ["c8", "c9"],
    ]
    activation_lake.set_members([("spring_sale", c) for c in ("c1", "c5")])
    report = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder, batch_size=5), send_time=SEND_AT)
    assert report.removals == 10
    assert _batches(folder, "remove") == [["c10", "c11", "c12", "c2", "c3"], ["c4", "c6", "c7", "c8", "c9"]]


def test_upsert_mode_never_removes(activation_lake: ActivationLake) -> None:
    _setup(activation_lake)
    lake = activation_lake.lake
    folder = lake.exports_dir() / "files"
    export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT, mode="upsert")
    activation_lake.set_members([("spring_sale", "c1")])
    report = export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT, mode="upsert")
    assert (report.upserts, report.removals) == (1, 0)


def test_hashed_parquet_drop_has_no_plain_identifiers(activation_lake: ActivationLake) -> None:
    _setup(activation_lake)
    lake = activation_lake.lake
    folder = lake.exports_dir() / "ads"
    drop = FileDrop("ads", folder, "parquet", hash_identifiers=True)
    export_audience(lake, RULES, "spring_sale", drop, send_time=SEND_AT)
    (path,) = _files(folder, "upsert")
    rows = sorted(pq.read_table(path).to_pylist(), key=lambda r: r["customer_id"])
    assert rows[0]["email_sha256"] == sha256_identifier("email", "  Person.C1@Example.com ")
    assert rows[0]["phone_sha256"] == sha256_identifier("phone", "+84900000001")
    assert b"example.com" not in path.read_bytes()


def test_nothing_is_sent_when_the_audit_cannot_be_written(activation_lake: ActivationLake) -> None:
    """The audit is written while the sync is planned; if that write fails, the sync raises and delivers nothing."""
    _setup(activation_lake)
    lake = activation_lake.lake
    # An audit table whose schema the decision rows cannot be appended to: deltalake refuses the write.
    write_deltalake(lake.uri(layout.ACTIVATION_DECISIONS), pa.table({"sync_id": pa.array([1], pa.int64())}))
    folder = lake.exports_dir() / "files"
    with pytest.raises(Exception, match=r"(?i)schema"):
        export_audience(lake, RULES, "spring_sale", FileDrop("files", folder), send_time=SEND_AT)
    assert not folder.exists()
    assert not lake.exists(layout.ACTIVATION_DELIVERIES)
    assert not lake.exists(layout.ACTIVATION_SYNCS)
