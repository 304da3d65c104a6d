"""Follow-up cases on a tiny lake: opened by the declared triggers, worked through cx/cases.py, kept by rebuilds, fed
to the activation care rule (open_cases), and removed with the person by `cdp erase`."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from activation.erasure import erase, resolve
from cdp import lake as layout
from cdp.lake import Lake
from cx.cases import CaseError, CaseNotFound, case_detail, case_queue, check_transition, record_action
from marts.build import build_marts
from tests.cx.conftest import AS_OF, CX_MODELS, LakeWriter, read, seed_cx_lake


def _build(lake: Lake) -> None:
    build_marts(lake, as_of=AS_OF, select=CX_MODELS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("cx") / "lake")
    seed_cx_lake(LakeWriter(lake))
    _build(lake)
    return lake


@pytest.fixture
def built(template: Lake, tmp_path: Path) -> Lake:
    """A fresh copy of the built lake for each test (the tests record actions and erase people)."""
    lake = Lake(tmp_path / "lake")
    shutil.copytree(template.root, lake.root)
    return lake


def _case_of(lake: Lake, source_id: str) -> dict:
    (case,) = read(lake, layout.CX_CASES, f"source_id = '{source_id}'")
    return case


def _open_cases(lake: Lake, scratch: Path) -> dict[str, int]:
    """The trait behind the activation care rule, from dbt's working database (a copy: dbt keeps its own open)."""
    import duckdb

    for name in ("marts.duckdb", "marts.duckdb.wal"):
        if (lake.marts_dir() / name).exists():
            shutil.copy(lake.marts_dir() / name, scratch / name)
    con = duckdb.connect(str(scratch / "marts.duckdb"), read_only=True)
    try:
        return dict(con.execute("select customer_id, open_cases from int_traits__cx_scores").fetchall())
    finally:
        con.close()


def test_triggers_open_cases_for_known_customers_and_unknown_respondents_are_kept(built: Lake, tmp_path: Path) -> None:
    cases = {c["source_id"]: c for c in read(built, layout.CX_CASES)}
    assert sorted(cases) == ["r-a1", "r-b1", "r-c1"]  # not the promoter, passive, unknown or too-old detractor
    assert (cases["r-a1"]["trigger_name"], cases["r-a1"]["queue"]) == ("nps_detractor", "detractor_followup")
    assert (cases["r-b1"]["trigger_name"], cases["r-c1"]["trigger_name"]) == ("csat_low", "ces_high_effort")
    assert cases["r-a1"]["due_at"] - cases["r-a1"]["opened_at"] == timedelta(hours=48)
    assert all(c["status"] == "open" for c in cases.values())
    assert cases["r-c1"]["is_overdue"] and not cases["r-b1"]["is_overdue"]  # CES: 72 h from 4 days before as_of
    (unknown,) = read(built, layout.CX_SURVEY_RESPONSES, "response_id = 'r-u1'")
    assert unknown["customer_id"] is None and unknown["category"] == "detractor"
    week = read(built, layout.CX_SURVEY_METRICS, "survey_type = 'NPS' and dimension = 'all' and period_grain = 'month'")
    june = next(r for r in week if r["period_start"].isoformat() == "2025-06-01")
    # r-a1 (3), r-d1 (8), r-u1 (0): the unknown respondent is counted; 2 detractors of 3 -> NPS -66.7
    assert (june["responses"], june["unknown_respondents"], june["detractors"]) == (3, 1, 2)
    assert june["nps"] == pytest.approx(-66.6667) and june["is_reportable"] is False
    assert _open_cases(built, tmp_path) == {"cus_a": 1, "cus_b": 1, "cus_c": 1, "cus_d": 0, "cus_e": 0}


def test_an_agents_update_shows_at_once_and_survives_a_rebuild(built: Lake, tmp_path: Path) -> None:
    case_id = _case_of(built, "r-a1")["case_id"]
    record_action(built, case_id, "contacted", "called, left a message", "ann", AS_OF - timedelta(hours=30))
    assert case_queue(built, status="contacted")[0]["case_id"] == case_id  # before any rebuild
    record_action(built, case_id, "resolved", "refunded the delivery fee", "ann", AS_OF - timedelta(hours=20))
    shown = case_detail(built, case_id)
    assert (shown["status"], shown["resolution_note"], shown["is_resolved_within_sla"]) == (
        "resolved",
        "refunded the delivery fee",
        True,
    )
    assert [a["status"] for a in shown["history"]] == ["contacted", "resolved"]
    assert case_id not in {c["case_id"] for c in case_queue(built, status="open")}

    _build(built)
    rebuilt = _case_of(built, "r-a1")
    assert (rebuilt["case_id"], rebuilt["status"], rebuilt["assigned_to"], rebuilt["actions"]) == (
        case_id,
        "resolved",
        "ann",
        2,
    )
    assert rebuilt["contacted_at"] == AS_OF - timedelta(hours=30)
    assert _open_cases(built, tmp_path)["cus_a"] == 0  # the care rule no longer holds cus_a's promotions
    metrics = read(built, layout.CX_CASE_METRICS, "queue = 'all'")
    assert sum(r["cases_opened"] for r in metrics) == 3 and sum(r["cases_closed"] for r in metrics) == 1


def test_an_action_after_as_of_is_applied_by_the_queue_but_not_by_the_build(built: Lake) -> None:
    case_id = _case_of(built, "r-b1")["case_id"]
    record_action(built, case_id, "contacted", "emailed", "bob", AS_OF + timedelta(hours=1))
    assert case_detail(built, case_id)["status"] == "contacted"
    _build(built)
    assert _case_of(built, "r-b1")["status"] == "open"  # the build is as of as_of: the action came later


def test_bad_actions_fail_clearly(built: Lake) -> None:
    case_id = _case_of(built, "r-c1")["case_id"]
    at = AS_OF - timedelta(hours=1)
    with pytest.raises(CaseNotFound, match="no case 'case_nope'"):
        record_action(built, "case_nope", "contacted", None, "ann", at)
    with pytest.raises(CaseError, match="unknown status 'closed'"):
        record_action(built, case_id, "closed", "x", "ann", at)
    with pytest.raises(CaseError, match="needs a resolution note"):
        record_action(built, case_id, "resolved", "  ", "ann", at)
    with pytest.raises(CaseError, match="needs the actor"):
        record_action(built, case_id, "contacted", None, " ", at)
    with pytest.raises(CaseError, match="before case"):
        record_action(built, case_id, "contacted", None, "ann", AS_OF - timedelta(days=30))
    with pytest.raises(CaseError, match="cannot become open"):
        record_action(built, case_id, "open", None, "ann", at)
    record_action(built, case_id, "contacted", None, "ann", at)
    with pytest.raises(CaseError, match="before the case's latest action"):
        record_action(built, case_id, "resolved", "done", "ann", at - timedelta(minutes=1))
    assert not built.exists(layout.CX_CASE_ACTIONS) or len(read(built, layout.CX_CASE_ACTIONS)) == 1


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [("open", "contacted", True), ("open", "resolved", True), ("contacted", "contacted", True),
     ("contacted", "resolved", True), ("resolved", "open", True), ("open", "open", False),
     ("resolved", "contacted", False), ("contacted", "open", False)],
)  # fmt: skip
def test_status_transitions(current: str, new: str, allowed: bool) -> None:
    if allowed:
        check_transition(current, new)
    else:
        with pytest.raises(CaseError):
            check_transition(current, new)


def test_erasing_a_customer_removes_their_cases_and_case_actions(built: Lake) -> None:
    case_id = _case_of(built, "r-a1")["case_id"]
    record_action(built, case_id, "contacted", "spoke to them", "ann", AS_OF - timedelta(hours=30))
    other = _case_of(built, "r-b1")["case_id"]
    record_action(built, other, "contacted", "emailed", "bob", AS_OF - timedelta(hours=2))
    erase(built, resolve(built, customer_id="cus_a"), lookup="customer_id")
    assert read(built, layout.CX_CASES, "customer_id = 'cus_a'") == []
    assert read(built, layout.CX_CASE_ACTIONS, "customer_id = 'cus_a'") == []
    assert read(built, layout.CX_SURVEY_RESPONSES, "customer_id = 'cus_a'") == []
    assert [a["case_id"] for a in read(built, layout.CX_CASE_ACTIONS)] == [other]  # someone else's work stays
    with pytest.raises(CaseNotFound):
        case_detail(built, case_id)
    _build(built)  # the rebuilt marts do not bring the case back (the bronze answer is gone too)
    assert read(built, layout.CX_CASES, f"case_id = '{case_id}'") == []
