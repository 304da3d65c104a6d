"""`cdp cx cases list|show|update` on a built tiny lake: an agent closes the loop without the console."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cdp import lake as layout
from cdp.cli import app
from cdp.lake import Lake
from marts.build import build_marts
from tests.cx.conftest import AS_OF, CX_MODELS, LakeWriter, read, seed_cx_lake

runner = CliRunner()


@pytest.fixture
def built(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv("COLUMNS", "250")  # rich tables as wide as a case id needs (not a terminal: 80 by default)
    seed_cx_lake(LakeWriter(lake))
    build_marts(lake, as_of=AS_OF, select=CX_MODELS)
    return lake


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=250)
    return result.exit_code, " ".join(result.output.split())


def test_list_show_update_and_errors(built: Lake) -> None:
    lake = str(built.root)
    (case,) = read(built, layout.CX_CASES, "source_id = 'r-a1'")
    case_id = case["case_id"]
    code, out = _run("cx", "cases", "list", "--lake", lake, "--queue", "detractor_followup")
    assert code == 0 and case_id in out and "service_recovery" not in out
    code, out = _run("cx", "cases", "update", case_id, "--status", "contacted", "--note", "called back",
                     "--actor", "ann", "--at", "2025-06-30T08:00:00Z", "--lake", lake)  # fmt: skip
    assert code == 0 and f"Case {case_id} is now contacted" in out and "by ann" in out
    code, out = _run("cx", "cases", "show", case_id, "--lake", lake)
    assert code == 0 and "contacted" in out and "called back" in out
    code, out = _run("cx", "cases", "list", "--lake", lake, "--status", "contacted")
    assert code == 0 and case_id in out
    # resolving without a note, an unknown case and a bad time are refused with the reason
    code, out = _run("cx", "cases", "update", case_id, "--status", "resolved", "--actor", "ann", "--lake", lake)
    assert code == 1 and "needs a resolution note" in out
    code, out = _run("cx", "cases", "update", "case_nope", "--status", "contacted", "--actor", "ann", "--lake", lake)
    assert code == 1 and "no case 'case_nope'" in out
    code, out = _run("cx", "cases", "update", case_id, "--status", "resolved", "--at", "yesterday", "--lake", lake)
    assert code == 2 and "not an ISO-8601 time" in out
    code, out = _run("cx", "cases", "show", "case_nope", "--lake", lake)
    assert code == 1 and "no case 'case_nope'" in out
    assert [a["status"] for a in read(built, layout.CX_CASE_ACTIONS)] == ["contacted"]
