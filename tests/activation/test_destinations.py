"""Destinations against their real counterparts: a local HTTP server on 127.0.0.1 that injects 500, 429 with
Retry-After, timeouts and dropped connections; the Postgres at 127.0.0.1 (database ``test``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from activation.destinations import Batch, DeadLetter, PostgresTable, Webhook
from activation.export import export_audience
from activation.rules import load_rules
from tests.activation.conftest import SEND_AT, ActivationLake
from tests.activation.webhook_server import TIMEOUT

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _webhook(url: str, waits: list[float], attempts: int = 6) -> Webhook:
    return Webhook("hook", url, max_attempts=attempts, timeout_seconds=TIMEOUT, sleep=waits.append)


def _batch(key: str = "k1", ids: tuple[str, ...] = ("c1", "c2")) -> Batch:
    rows = [{"customer_id": c, "email": f"{c}@example.com", "phone": None, "first_name": None, "last_name": None}
            for c in ids]  # fmt: skip
    return Batch(key, "spring_sale", "upsert", pa.Table.from_pylist(rows), "sync-test")


def test_webhook_survives_500_429_timeout_and_dropped_connection(server_factory: Any) -> None:
    server = server_factory(["500", "429:7", "slow", "drop", "ok"])
    waits: list[float] = []
    hook = _webhook(server.url, waits)
    hook.deliver(_batch())
    assert hook.attempts == 5
    assert server.keys == ["k1"] * 5  # one idempotency key for every attempt of the batch
    assert waits[1] == 7.0  # Retry-After honoured
    assert len(waits) == 4
    (answered,) = server.received
    assert [m["customer_id"] for m in answered["body"]["members"]] == ["c1", "c2"]
    assert answered["body"]["idempotency_key"] == "k1"


def test_webhook_dead_letters_after_max_attempts_and_does_not_retry_a_400(server_factory: Any) -> None:
    failing = server_factory([], default="500")
    waits: list[float] = []
    with pytest.raises(DeadLetter, match="3 attempts"):
        _webhook(failing.url, waits, attempts=3).deliver(_batch())
    assert len(failing.keys) == 3
    refusing = server_factory([], default="400")
    with pytest.raises(DeadLetter, match="HTTP 400"):
        _webhook(refusing.url, []).deliver(_batch())
    assert len(refusing.keys) == 1


def test_failed_sync_resumes_without_duplicate_sends(activation_lake: ActivationLake, server_factory: Any) -> None:
    for c in ("c1", "c2", "c3"):
        activation_lake.consent(c, "granted", SEND_AT - timedelta(days=30))
    activation_lake.write(["c1", "c2", "c3"], [("spring_sale", "marketing", "email", 10)],
                          [("spring_sale", c) for c in ("c1", "c2", "c3")])  # fmt: skip
    lake, rules = activation_lake.lake, load_rules()
    # First batch delivered; the second fails three times and is dead-lettered; the third is delivered.
    server = server_factory(["ok", "500", "500", "500", "ok"])
    first = export_audience(lake, rules, "spring_sale", _webhook(server.url, [], attempts=3), send_time=SEND_AT,
                            batch_size=1)  # fmt: skip
    assert (first.status, first.upserts, first.dead_lettered) == ("failed", 2, 1)
    (letter,) = first.dead_letter_files
    assert json.loads(letter.read_text())["rows"][0]["customer_id"] == "c2"
    second = export_audience(lake, rules, "spring_sale", _webhook(server.url, []), send_time=SEND_AT, batch_size=1)
    assert (second.status, second.upserts) == ("completed", 1)
    sent = [m["customer_id"] for r in server.received for m in r["body"]["members"]]
    assert sorted(sent) == ["c1", "c2", "c3"]  # each person exactly once across the failed and the resumed sync
    # After a completed sync, a mirror sync sends the full list again (that is what mirror means).
    third = export_audience(lake, rules, "spring_sale", _webhook(server.url, []), send_time=SEND_AT)
    assert third.upserts == 3


@pytest.fixture
def crm() -> Iterator[PostgresTable]:
    table = f"crm_test_{uuid.uuid4().hex[:8]}"
    destination = PostgresTable("crm", PG_URL, table, backoff_seconds=0.01)
    yield destination
    destination.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"drop table if exists {table}")


def _rows(crm: PostgresTable) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(f"select audience_name, customer_id, email from {crm.table} order by 2").fetchall()


def test_postgres_upserts_removes_and_survives_a_dropped_connection(crm: PostgresTable) -> None:
    crm.deliver(_batch("a", ("c1", "c2")))
    crm.deliver(Batch("b", "spring_sale", "upsert", pa.Table.from_pylist([
        {"customer_id": "c2", "email": "new@example.com", "phone": None, "first_name": None, "last_name": None}
    ]), "s"))  # fmt: skip
    assert _rows(crm) == [("spring_sale", "c1", "c1@example.com"), ("spring_sale", "c2", "new@example.com")]
    # The server ends our session (as a Postgres restart does): the next batch reconnects and is written once.
    pid = crm._connect().info.backend_pid
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (pid,))
    crm.deliver(Batch("c", "spring_sale", "remove", pa.table({"customer_id": ["c1"]}), "s"))
    assert _rows(crm) == [("spring_sale", "c2", "new@example.com")]
    assert crm.delete_customers(["c2"]) == 1
    assert _rows(crm) == []


def test_export_to_postgres_mirror(activation_lake: ActivationLake, crm: PostgresTable) -> None:
    for c in ("c1", "c2"):
        activation_lake.consent(c, "granted", SEND_AT - timedelta(days=30))
    activation_lake.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)],
                          [("spring_sale", "c1"), ("spring_sale", "c2")])  # fmt: skip
    lake, rules = activation_lake.lake, load_rules()
    export_audience(lake, rules, "spring_sale", crm, send_time=SEND_AT)
    assert [r[1] for r in _rows(crm)] == ["c1", "c2"]
    activation_lake.set_members([("spring_sale", "c2")])
    report = export_audience(lake, rules, "spring_sale", crm, send_time=SEND_AT, mode="diff")
    assert (report.upserts, report.removals) == (0, 1)
    assert [r[1] for r in _rows(crm)] == ["c2"]
