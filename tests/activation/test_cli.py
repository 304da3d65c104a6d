"""The commands: `cdp audience export` (dry run and real), `cdp audience explain`, `cdp erase`; no PII in logs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from cdp import lake as layout
from cdp.cli import app
from tests.activation.conftest import SEND_AT, ActivationLake
from tests.activation.test_erasure import _identifiers

runner = CliRunner()


@pytest.fixture
def small(activation_lake: ActivationLake, monkeypatch: pytest.MonkeyPatch) -> ActivationLake:
    a = activation_lake
    a.consent("c1", "granted", SEND_AT - timedelta(days=30))
    a.consent("c2", "withdrawn", SEND_AT - timedelta(days=30))
    a.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)], [("spring_sale", "c1"), ("spring_sale", "c2")])
    _identifiers(a)
    monkeypatch.setenv("CDP_LAKE_ROOT", str(a.lake.root))
    monkeypatch.setenv("CDP_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    return a


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines at the console's width


def test_export_dry_run_then_real_then_explain(small: ActivationLake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    at = SEND_AT.isoformat()
    dry = _run("audience", "export", "spring_sale", "--destination", "files", "--dry-run", "--send-at", at)
    assert "dry run" in dry and "consent_withdrawn" in dry and "eligible" in dry
    assert not small.lake.exists(layout.ACTIVATION_DECISIONS)
    real = _run("audience", "export", "spring_sale", "--destination", "files", "--send-at", at)
    assert "completed: 1 upserts and 0 removals" in real
    why = _run("audience", "explain", "spring_sale", "--customer-id", "c2", "--send-at", at)
    assert "latest consent event at send time is a withdrawal" in why and "Audited decisions" in why
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sync-" in logged
    assert small.email("c1") not in logged and small.phone("c1") not in logged and "Firstnamec1" not in logged


def test_export_unknown_audience_or_destination_fails_clearly(small: ActivationLake) -> None:
    result = runner.invoke(app, ["audience", "export", "nope", "--destination", "files"], terminal_width=200)
    assert result.exit_code == 1 and "no audience 'nope'" in result.output
    result = runner.invoke(app, ["audience", "export", "spring_sale", "--destination", "fax"], terminal_width=200)
    assert result.exit_code == 1 and "no destination 'fax'" in result.output


def test_erase_unknown_then_known_then_again(small: ActivationLake) -> None:
    unknown = runner.invoke(app, ["erase", "--email", "nobody@example.com"], terminal_width=200)
    assert unknown.exit_code == 1 and "nothing deleted" in unknown.output
    assert not small.lake.exists(layout.ERASURE_RECEIPTS)
    done = _run("erase", "--email", small.email("c1").upper())
    assert "rows deleted" in done and small.email("c1") not in done
    again = _run("erase", "--email", small.email("c1"))
    assert "erased already" in again
