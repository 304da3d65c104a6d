"""Erasure on a small lake with exports, old table versions, quarantine text and the CRM table: afterwards no byte
of the person's email, phone, name or customer id remains anywhere under the lake (Parquet decoded as well)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from activation.destinations import FileDrop, PostgresTable, Webhook
from activation.erasure import NothingToErase, already_erased, erase, resolve
from activation.export import export_audience
from activation.rules import load_rules
from cdp import lake as layout
from tests.activation.conftest import SEND_AT, ActivationLake
from tests.activation.test_destinations import PG_URL


def leftovers(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` holding one of ``needles`` (case-insensitive), in its bytes or decoded Parquet."""
    found = []
    low = [n.lower() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes().lower()
        hits = {n for n in low if n.encode() in raw}
        if path.suffix == ".parquet":  # compressed pages hide strings from a byte search
            text = repr(pq.read_table(path).to_pylist()).lower()
            hits |= {n for n in low if n in text}
        found += [f"{path.relative_to(root)}: {h}" for h in sorted(hits)]
    return found


@pytest.fixture
def crm() -> Iterator[PostgresTable]:
    destination = PostgresTable("crm", PG_URL, f"crm_test_{uuid.uuid4().hex[:8]}", backoff_seconds=0.01)
    yield destination
    destination.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"drop table if exists {destination.table}")


def _identifiers(a: ActivationLake) -> None:
    rows = [
        {"record_key": f"crm_contacts:CRM-{c}", "source": "crm_contacts", "source_record_id": f"CRM-{c}",
         "id_type": kind, "raw_value": raw, "value": value}
        for c in a.customers
        for kind, raw, value in (("email", a.email(c).upper(), a.email(c)), ("phone", a.phone(c), a.phone(c)))
    ]  # fmt: skip
    write_deltalake(a.lake.uri(layout.IDENTITY_IDENTIFIERS), pa.Table.from_pylist(rows), mode="overwrite")


def test_erase_leaves_no_trace_and_keeps_everyone_else(activation_lake: ActivationLake, crm: PostgresTable) -> None:
    a = activation_lake
    for c in ("c1", "c2"):
        a.consent(c, "granted", SEND_AT - timedelta(days=30))
        a.message(c, SEND_AT - timedelta(days=20))
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1"), ("spring_sale", "c2")])
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1"), ("spring_sale", "c2")])
    _identifiers(a)
    lake, rules = a.lake, load_rules()
    # A quarantined row keeps the raw text; dbt's working database holds a copy of the marts.
    raw = [f'{{"email": "{a.email("c1")}"}}', '{"email": "x"}']
    write_deltalake(lake.uri(layout.quarantine("consent_events")), pa.table({"_raw": raw, "_reason": ["bad", "bad"]}))
    lake.marts_dir().mkdir(parents=True)
    (lake.marts_dir() / "marts.duckdb").write_text(f"{a.email('c1')} Firstnamec1")
    files = FileDrop("files", lake.exports_dir() / "files")
    ads = FileDrop("ads", lake.exports_dir() / "ads", "parquet", hash_identifiers=True)
    for destination in (files, ads, crm):
        assert export_audience(lake, rules, "spring_sale", destination, send_time=SEND_AT).upserts == 2
    assert leftovers(lake.root, [a.email("c1"), a.phone("c1"), "Firstnamec1"])  # the search finds them before

    person = resolve(lake, value=a.email("c1"), id_type="email")
    assert person.customer_ids == {"c1"}
    receipt = erase(lake, person, lookup="email", crm=crm, run_by="dpo")

    assert leftovers(lake.root, [a.email("c1"), a.phone("c1"), "Firstnamec1", "Lastnamec1", "CRM-c1"]) == []
    # Everyone else is still there, in the lake, the exports and the CRM.
    customers = DeltaTable(lake.uri(layout.CUSTOMERS)).to_pyarrow_table()
    assert customers["customer_id"].to_pylist() == ["c2"]
    assert leftovers(lake.root, [a.email("c2")])
    with psycopg.connect(PG_URL) as conn:
        assert conn.execute(f"select customer_id from {crm.table}").fetchall() == [("c2",)]
    assert receipt.crm_rows_deleted == 1 and receipt.export_files_rewritten == 2
    # Old versions are gone: the customers table has no history before the erasure.
    assert len(DeltaTable(lake.uri(layout.CUSTOMERS)).history()) <= 3
    # Receipt and suppression list hold hashes only; a second erase finds the suppression entry.
    assert leftovers(lake.path(layout.ERASURE_RECEIPTS), [a.email("c1"), a.phone("c1")]) == []
    assert already_erased(lake, a.email("c1")) == receipt.erasure_id
    with pytest.raises(NothingToErase):
        resolve(lake, value=a.email("c1"), id_type="email")
    with pytest.raises(NothingToErase, match="nothing deleted"):
        resolve(lake, value="nobody@example.com", id_type="email")


def test_erase_sends_removals_to_webhooks_holding_the_person(activation_lake: ActivationLake, server_factory) -> None:
    a = activation_lake
    for c in ("c1", "c2"):
        a.consent(c, "granted", SEND_AT - timedelta(days=30))
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1"), ("spring_sale", "c2")])
    server = server_factory([])
    hook = Webhook("hook", server.url, sleep=lambda _: None)
    export_audience(a.lake, load_rules(), "spring_sale", hook, send_time=SEND_AT)
    receipt = erase(a.lake, resolve(a.lake, customer_id="c1"), lookup="customer_id", webhooks=[hook])
    assert receipt.webhook_removals_sent == 1
    last = server.received[-1]["body"]
    assert (last["op"], last["audience"], last["members"]) == ("remove", "spring_sale", [{"customer_id": "c1"}])
