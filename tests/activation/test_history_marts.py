"""The dbt marts activation reads (gold.customer_consent_history, gold.customer_contact_history), built by dbt from
bronze and the identity map (only these models and what they need: other marts are built by other tests), give the
same rows the activation tests write directly, and an export decides on them."""

from __future__ import annotations

from datetime import timedelta

from deltalake import DeltaTable

from activation.destinations import FileDrop
from activation.export import export_audience
from activation.rules import load_rules
from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from tests.activation.conftest import SEND_AT, ActivationLake

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
