"""The dbt marts activation reads (gold.customer_consent_history, gold.customer_contact_history), built by dbt from
bronze and the identity map (only these models and what they need: other marts are built by other tests), give the
same rows the activation tests write directly, and an export decides on them."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from deltalake import DeltaTable

from activation.destinations import FileDrop
from activation.export import export_audience
from activation.rules import load_rules
from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from tests.activation.conftest import SEND_AT, ActivationLake
from tests.marts.conftest import AS_OF

SELECT = "+customer_consent_history +customer_contact_history"
KEYS = {layout.CUSTOMER_CONSENT_HISTORY: "consent_id", layout.CUSTOMER_CONTACT_HISTORY: "message_id"}


def _rows(lake: Lake, table: layout.Table) -> list[dict]:
    return sorted(DeltaTable(lake.uri(table)).to_pyarrow_table().to_pylist(), key=lambda r: r[KEYS[table]])


def test_dbt_builds_the_histories_the_export_reads(activation_lake: ActivationLake) -> None:
    a = activation_lake
    day = timedelta(days=1)
    a.consent("c1", "granted", SEND_AT - 30 * day)
    a.consent("c1", "withdrawn", SEND_AT - 2 * day)
    a.consent("c2", "granted", SEND_AT - 30 * day)
    a.consent("c2", "granted", SEND_AT + day)  # after the send time: kept in the history, ignored by the gate
    a.message("c2", SEND_AT - 3 * day)
    a.message("c2", SEND_AT - 40 * day, channel="sms", purpose="transactional")
    # A consent event of a record no customer holds names nobody: not in the history.
    nobody = {"consent_id": "CNS-nobody", "email": "x@example.com", "purpose": "marketing", "channel": "email"}
    a.writer.bronze("consent_events", [{**nobody, "status": "granted", "occurred_at": SEND_AT - day}])
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1"), ("spring_sale", "c2")])
    written = {table: _rows(a.lake, table) for table in KEYS}
    assert [r["consent_id"] for r in written[layout.CUSTOMER_CONSENT_HISTORY]] == [
        "CNS-0001", "CNS-0002", "CNS-0003", "CNS-0004"
    ]  # fmt: skip

    build_marts(a.lake, as_of=SEND_AT, select=SELECT)  # contracts enforced, primary-key tests run

    for table, rows in written.items():
        assert _rows(a.lake, table) == rows, table
    report = export_audience(a.lake, load_rules(), "spring_sale", FileDrop("files", a.lake.exports_dir()),
                             send_time=SEND_AT, dry_run=True)  # fmt: skip
    assert report.counts == {"consent_withdrawn": 1, "eligible": 1}


RANGES_KEY = "consent_id"
INCREMENTAL_SELECT = SELECT + " +customer_consent_ranges"
ALL = {**KEYS, layout.CUSTOMER_CONSENT_RANGES: RANGES_KEY}


def _all_rows(lake: Lake) -> dict[layout.Table, list[dict]]:
    return {
        table: sorted(DeltaTable(lake.uri(table)).to_pyarrow_table().to_pylist(), key=lambda r: r[key])
        for table, key in ALL.items()
    }


def _assign(a: ActivationLake, record_id: str, customer_id: str, at: datetime) -> None:
    """The identity job moved a source record to another customer at ``at`` (assigned_at)."""
    for row in a.writer.identity:
        if row["source_record_id"] == record_id:
            row["customer_id"], row["assigned_at"] = customer_id, at


def test_incremental_histories_equal_a_build_from_scratch(activation_lake: ActivationLake, tmp_path) -> None:
    """Two builds (the second after new, late, re-sent and re-keyed records) leave the same histories and ranges in
    Delta as one build of the final lake from scratch; the second build merges only the rows it keyed, and a
    third with nothing new writes nothing."""
    a = activation_lake
    day = timedelta(days=1)
    first, second = SEND_AT - 10 * day, SEND_AT - 5 * day  # ingest batches (bronze _ingested_at)
    assigned = SEND_AT - 20 * day
    a.writer.bronze("consent_events", [
        {"consent_id": "CNS-1", "purpose": "marketing", "channel": "email", "status": "granted",
         "occurred_at": SEND_AT - 30 * day},
        {"consent_id": "CNS-2", "purpose": "marketing", "channel": "email", "status": "withdrawn",
         "occurred_at": SEND_AT - 3 * day},
        {"consent_id": "CNS-3", "purpose": "marketing", "channel": "email", "status": "granted",
         "occurred_at": SEND_AT - 30 * day},
    ], ingested_at=first)  # fmt: skip
    a.writer.bronze("messages_sent", [
        {"message_id": "MSG-1", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 2 * day},
        {"message_id": "MSG-2", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 2 * day},
        {"message_id": "MSG-3", "channel": "sms", "purpose": "marketing", "sent_at": SEND_AT - 4 * day},
    ], ingested_at=first)  # fmt: skip
    for record, customer in (("CNS-1", "c1"), ("CNS-2", "c1"), ("CNS-3", "c2"), ("MSG-1", "c1"), ("MSG-2", "c2"),
                             ("MSG-3", "c2")):  # fmt: skip
        source = "consent_events" if record.startswith("CNS") else "messages_sent"
        a.writer.link(customer, source, record, assigned)
    for row in a.writer.identity:
        row["assigned_at"] = assigned
    a.write(["c1", "c2", "c3"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1")])
    build_marts(a.lake, as_of=SEND_AT - 4 * day, select=INCREMENTAL_SELECT)

    # A later batch: a late event that happened before c1's withdrawal (the withdrawal stays in force), c2 withdrawing
    # and granting in the same second (the withdrawal wins), a re-sent message (moves to the new batch), a new one;
    # and the identity job moved MSG-3 and CNS-3 from c2 to c3.
    a.writer.bronze("consent_events", [
        {"consent_id": "CNS-4", "purpose": "marketing", "channel": "email", "status": "granted",
         "occurred_at": SEND_AT - 4 * day},
        {"consent_id": "CNS-5", "purpose": "marketing", "channel": "sms", "status": "granted",
         "occurred_at": SEND_AT - 1 * day},
        {"consent_id": "CNS-6", "purpose": "marketing", "channel": "sms", "status": "withdrawn",
         "occurred_at": SEND_AT - 1 * day},
    ], ingested_at=second)  # fmt: skip
    a.writer.bronze("messages_sent", [
        {"message_id": "MSG-2", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 2 * day,
         "campaign_id": "resent"},
        {"message_id": "MSG-4", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 1 * day},
    ], ingested_at=second)  # fmt: skip
    for record, customer in (("CNS-4", "c1"), ("CNS-5", "c2"), ("CNS-6", "c2"), ("MSG-4", "c1")):
        source = "consent_events" if record.startswith("CNS") else "messages_sent"
        a.writer.link(customer, source, record, assigned)
        a.writer.identity[-1]["assigned_at"] = SEND_AT - 4 * day
    _assign(a, "MSG-3", "c3", SEND_AT - 3 * day)
    _assign(a, "CNS-3", "c3", SEND_AT - 3 * day)
    a.writer.write_identity()
    before = DeltaTable(a.lake.uri(layout.CUSTOMER_CONTACT_HISTORY)).version()
    build_marts(a.lake, as_of=SEND_AT - 2 * day, select=INCREMENTAL_SELECT)
    incremental = _all_rows(a.lake)

    # One commit, of the rows this build keyed: MSG-2 re-sent, MSG-3 re-keyed, MSG-4 new.
    contacts = DeltaTable(a.lake.uri(layout.CUSTOMER_CONTACT_HISTORY))
    assert contacts.version() == before + 1
    assert [r["message_id"] for r in incremental[layout.CUSTOMER_CONTACT_HISTORY]] == ["MSG-1", "MSG-2", "MSG-3",
                                                                                      "MSG-4"]  # fmt: skip
    by_id = {r["message_id"]: r for r in incremental[layout.CUSTOMER_CONTACT_HISTORY]}
    assert (by_id["MSG-2"]["campaign_id"], by_id["MSG-2"]["ingested_at"]) == ("resent", second)
    assert by_id["MSG-3"]["customer_id"] == "c3"
    assert {r["consent_id"]: r["customer_id"] for r in incremental[layout.CUSTOMER_CONSENT_HISTORY]}["CNS-3"] == "c3"
    in_force = {(r["customer_id"], r["channel"]): r["consent_id"] for r in incremental[layout.CUSTOMER_CONSENT_RANGES]
                if r["valid_to"] is None}  # fmt: skip
    assert in_force == {("c1", "email"): "CNS-2", ("c2", "sms"): "CNS-6", ("c3", "email"): "CNS-3"}

    # Nothing new: no data file of the histories is rewritten (an empty append may still commit a version).
    files = {t: sorted(DeltaTable(a.lake.uri(t)).file_uris()) for t in KEYS}
    build_marts(a.lake, as_of=SEND_AT - day, select=INCREMENTAL_SELECT)
    assert {t: sorted(DeltaTable(a.lake.uri(t)).file_uris()) for t in KEYS} == files
    assert _all_rows(a.lake) == incremental

    # Every row of the `second` batch re-sent in a third: each replaces its row (merged on message_id); no row of the
    # emptied batch stays behind.
    third = SEND_AT - 3 * day
    a.writer.bronze("messages_sent", [
        {"message_id": "MSG-2", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 2 * day,
         "campaign_id": "resent again"},
        {"message_id": "MSG-4", "channel": "email", "purpose": "marketing", "sent_at": SEND_AT - 1 * day},
    ], ingested_at=third)  # fmt: skip
    build_marts(a.lake, as_of=SEND_AT - day, select=INCREMENTAL_SELECT)
    incremental = _all_rows(a.lake)
    contacts_now = incremental[layout.CUSTOMER_CONTACT_HISTORY]
    assert [r["message_id"] for r in contacts_now] == ["MSG-1", "MSG-2", "MSG-3", "MSG-4"]
    assert {r["message_id"]: r["ingested_at"] for r in contacts_now if r["message_id"] in ("MSG-2", "MSG-4")} == {
        "MSG-2": third,
        "MSG-4": third,
    }

    # The same final lake built from scratch: a copy without dbt's working database and without these marts.
    fresh = Lake(tmp_path / "fresh")
    skip = {a.lake.marts_dir(), *(a.lake.path(t) for t in ALL)}
    shutil.copytree(a.lake.root, fresh.root, ignore=lambda d, names: [n for n in names if Path(d) / n in skip])
    build_marts(fresh, as_of=SEND_AT - day, select=INCREMENTAL_SELECT)
    assert _all_rows(fresh) == incremental


def test_rows_keyed_by_a_build_that_stopped_short_of_the_histories_are_merged_by_the_next(
    activation_lake: ActivationLake,
) -> None:
    """A build that keys new records but does not reach the history marts and the consent ranges (here `--select
    +int_contacts__messages +int_consent__events`; also a failed test, or a Dagster run of the keyed models alone)
    leaves them for the next build: the marts merge every row keyed since their last merge, not only this build's."""
    a = activation_lake
    day = timedelta(days=1)
    a.message("c2", SEND_AT - 3 * day)
    a.consent("c2", "granted", SEND_AT - 30 * day)
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c2")])
    for row in a.writer.identity:
        row["assigned_at"] = SEND_AT - 20 * day
    a.writer.write_identity()
    build_marts(a.lake, as_of=SEND_AT - 2 * day, select=INCREMENTAL_SELECT)

    later = AS_OF + day  # ingested after the first batch, identified by a later identity run
    a.writer.bronze("messages_sent", [{"message_id": "MSG-late", "channel": "email", "purpose": "marketing",
                                       "sent_at": SEND_AT - day}], ingested_at=later)  # fmt: skip
    late_consent = {"consent_id": "CNS-late", "purpose": "marketing", "channel": "sms", "status": "granted",
                    "occurred_at": SEND_AT - day}  # fmt: skip
    a.writer.bronze("consent_events", [late_consent], ingested_at=later)
    a.writer.link("c1", "messages_sent", "MSG-late", SEND_AT - day, assigned_at=SEND_AT - day)
    a.writer.link("c1", "consent_events", "CNS-late", SEND_AT - day, assigned_at=SEND_AT - day)
    a.writer.write_identity()
    build_marts(a.lake, as_of=SEND_AT - day, select="+int_contacts__messages +int_consent__events")
    build_marts(a.lake, as_of=SEND_AT - day, select=INCREMENTAL_SELECT)

    merged = _all_rows(a.lake)
    assert "MSG-late" in {r["message_id"] for r in merged[layout.CUSTOMER_CONTACT_HISTORY]}
    assert "CNS-late" in {r["consent_id"] for r in merged[layout.CUSTOMER_CONSENT_HISTORY]}
    assert "CNS-late" in {r["consent_id"] for r in merged[layout.CUSTOMER_CONSENT_RANGES]}
