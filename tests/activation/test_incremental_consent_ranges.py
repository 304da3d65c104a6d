"""The consent ranges built incrementally (dbt model customer_consent_ranges, delta_mode merge): a build after new,
re-sent and re-keyed consent events gives the same ranges as a build of the final lake from scratch, removes the
range of an event beaten at its instant, and a build with nothing new writes nothing."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from tests.activation.conftest import SEND_AT, ActivationLake

SELECT = "+customer_consent_ranges"
DAY = timedelta(days=1)


def _ranges(lake: Lake) -> list[dict]:
    rows = DeltaTable(lake.uri(layout.CUSTOMER_CONSENT_RANGES)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: r["consent_id"])


def _event(consent_id: str, channel: str, status: str, at) -> dict:
    return {"consent_id": consent_id, "purpose": "marketing", "channel": channel, "status": status, "occurred_at": at}


def test_incremental_ranges_equal_a_build_from_scratch(activation_lake: ActivationLake, tmp_path) -> None:
    a = activation_lake
    first, second = SEND_AT - 10 * DAY, SEND_AT - 5 * DAY  # ingest batches (bronze _ingested_at)
    a.writer.bronze("consent_events", [
        _event("CNS-1", "email", "granted", SEND_AT - 30 * DAY),
        _event("CNS-2", "email", "withdrawn", SEND_AT - 10 * DAY),
        _event("CNS-3", "sms", "granted", SEND_AT - 20 * DAY),
        _event("CNS-4", "email", "granted", SEND_AT - 20 * DAY),
        _event("CNS-5", "email", "granted", SEND_AT - 5 * DAY),
    ], ingested_at=first)  # fmt: skip
    for record, customer in (("CNS-1", "c1"), ("CNS-2", "c1"), ("CNS-3", "c1"), ("CNS-4", "c2"), ("CNS-5", "c3")):
        a.writer.link(customer, "consent_events", record, SEND_AT - 30 * DAY, SEND_AT - 20 * DAY)
    a.writer.write_identity()
    build_marts(a.lake, as_of=SEND_AT - 4 * DAY, select=SELECT)
    assert [r["consent_id"] for r in _ranges(a.lake)] == ["CNS-1", "CNS-2", "CNS-3", "CNS-4", "CNS-5"]

    # A withdrawal at the same instant as c1's sms grant (it wins: CNS-3's range goes), CNS-4 re-sent as a
    # withdrawal, a new customer's grant, and the identity job moved CNS-2 from c1 to c2 (c1's grant is in force
    # again; c2's re-sent withdrawal now ends at CNS-2's time).
    a.writer.bronze("consent_events", [
        _event("CNS-6", "sms", "withdrawn", SEND_AT - 20 * DAY),
        _event("CNS-4", "email", "withdrawn", SEND_AT - 20 * DAY),
        _event("CNS-7", "email", "granted", SEND_AT - 3 * DAY),
    ], ingested_at=second)  # fmt: skip
    a.writer.link("c1", "consent_events", "CNS-6", SEND_AT - 20 * DAY, SEND_AT - 4 * DAY)
    a.writer.link("c4", "consent_events", "CNS-7", SEND_AT - 3 * DAY, SEND_AT - 4 * DAY)
    for row in a.writer.identity:
        if row["source_record_id"] == "CNS-2":
            row["customer_id"], row["assigned_at"] = "c2", SEND_AT - 4 * DAY
    a.writer.write_identity()
    ranges = DeltaTable(a.lake.uri(layout.CUSTOMER_CONSENT_RANGES))
    before = ranges.version()
    build_marts(a.lake, as_of=SEND_AT - 2 * DAY, select=SELECT)
    incremental = _ranges(a.lake)

    # One merge commit: the untouched c3 range is neither recomputed into a new table nor rewritten as a whole.
    ranges = DeltaTable(a.lake.uri(layout.CUSTOMER_CONSENT_RANGES))
    assert ranges.version() == before + 1 and ranges.history(1)[0]["operation"] == "MERGE"
    by_id = {r["consent_id"]: r for r in incremental}
    assert sorted(by_id) == ["CNS-1", "CNS-2", "CNS-4", "CNS-5", "CNS-6", "CNS-7"]
    assert (by_id["CNS-1"]["customer_id"], by_id["CNS-1"]["valid_to"]) == ("c1", None)
    assert (by_id["CNS-4"]["status"], by_id["CNS-4"]["valid_to"]) == ("withdrawn", SEND_AT - 10 * DAY)
    assert (by_id["CNS-2"]["customer_id"], by_id["CNS-2"]["valid_from"]) == ("c2", SEND_AT - 10 * DAY)

    # Nothing new: no commit.
    build_marts(a.lake, as_of=SEND_AT - DAY, select=SELECT)
    assert DeltaTable(a.lake.uri(layout.CUSTOMER_CONSENT_RANGES)).version() == before + 1
    assert _ranges(a.lake) == incremental

    # The same final lake built from scratch: a copy without dbt's working database and without the ranges.
    fresh = Lake(tmp_path / "fresh")
    skip = {a.lake.marts_dir(), a.lake.path(layout.CUSTOMER_CONSENT_RANGES)}
    shutil.copytree(a.lake.root, fresh.root, ignore=lambda d, names: [n for n in names if Path(d) / n in skip])
    build_marts(fresh, as_of=SEND_AT - DAY, select=SELECT)
    assert _ranges(fresh) == incremental
    # --full-refresh rebuilds the same ranges
    build_marts(a.lake, as_of=SEND_AT - DAY, select=SELECT, full_refresh=True)
    assert _ranges(a.lake) == incremental


def test_ranges_after_the_events_were_rebuilt_equal_a_build_from_scratch(
    activation_lake: ActivationLake, tmp_path
) -> None:
    """`--full-refresh` of int_consent__events alone keys every event again and drops those no customer holds any
    more: the next build's ranges compare every event with the last build's ranges (the merge mark cannot say which
    events left), so the range of a dropped event goes although no remaining event has its key."""
    a = activation_lake
    a.writer.bronze("consent_events", [
        _event("CNS-1", "email", "granted", SEND_AT - 30 * DAY),
        _event("CNS-2", "email", "granted", SEND_AT - 20 * DAY),
    ], ingested_at=SEND_AT - 10 * DAY)  # fmt: skip
    for record, customer in (("CNS-1", "c1"), ("CNS-2", "c2")):
        a.writer.link(customer, "consent_events", record, SEND_AT - 30 * DAY, SEND_AT - 20 * DAY)
    a.writer.write_identity()
    build_marts(a.lake, as_of=SEND_AT - 4 * DAY, select=SELECT)
    assert [r["consent_id"] for r in _ranges(a.lake)] == ["CNS-1", "CNS-2"]

    # The identity job no longer holds CNS-2's record (c2's only event): the rebuilt events leave it out.
    a.writer.identity = [row for row in a.writer.identity if row["source_record_id"] != "CNS-2"]
    a.writer.write_identity()
    build_marts(a.lake, as_of=SEND_AT - 3 * DAY, select="+int_consent__events", full_refresh=True)
    build_marts(a.lake, as_of=SEND_AT - 2 * DAY, select=SELECT)
    assert [r["consent_id"] for r in _ranges(a.lake)] == ["CNS-1"]

    fresh = Lake(tmp_path / "fresh")
    skip = {a.lake.marts_dir(), a.lake.path(layout.CUSTOMER_CONSENT_RANGES)}
    shutil.copytree(a.lake.root, fresh.root, ignore=lambda d, names: [n for n in names if Path(d) / n in skip])
    build_marts(fresh, as_of=SEND_AT - 2 * DAY, select=SELECT)
    assert _ranges(fresh) == _ranges(a.lake)
