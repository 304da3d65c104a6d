"""cx_survey_responses kept between builds (delta_mode merge): a later build writes only the answers whose row
changed (a new answer, one whose record changed customer, a repeat-detractor flag a new answer set), not every
answer again, and nothing at all when nothing changed; the mart still equals a build from scratch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from deltalake import DeltaTable

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from tests.marts.conftest import AS_OF, LakeWriter, ts

LATER = AS_OF + timedelta(days=1)


def _response(response_id: str, ref: str, survey_type: str, score: int, at: str) -> dict:
    return {"response_id": response_id, "survey_type": survey_type, "score": score, "customer_ref": ref,
            "responded_at": ts(at)}  # fmt: skip


FIRST = [
    ("r-1", "cus_a", "NPS", 3, "2025-05-01T10:00:00"),  # a detractor
    ("r-2", "cus_b", "CSAT", 4, "2025-05-02T10:00:00"),
    ("r-3", "cus_b", "CES", 6, "2025-05-03T10:00:00"),
]
NEW = ("r-4", "cus_a", "NPS", 2, "2025-06-20T10:00:00")  # cus_a's second detractor answer within 90 days


def _write_first(lake: Lake) -> LakeWriter:
    writer = LakeWriter(lake)
    writer.bronze("survey_responses", [_response(*r) for r in FIRST])
    for response_id, customer, *_, at in FIRST:
        writer.link(customer, "survey_responses", response_id, ts(at), AS_OF)
    writer.write_identity()
    return writer


def _write_second(writer: LakeWriter) -> None:
    """One new answer, and r-2's record re-assigned from cus_b to cus_c."""
    writer.bronze("survey_responses", [_response(*NEW)], ingested_at=LATER)
    for row in writer.identity:
        if row["source_record_id"] == "r-2":
            row.update(customer_id="cus_c", assigned_at=LATER)
    writer.link(NEW[1], "survey_responses", NEW[0], ts(NEW[4]), LATER)
    writer.write_identity()


def _rows(lake: Lake) -> set[tuple]:
    table = DeltaTable(lake.uri(layout.CX_SURVEY_RESPONSES)).to_pyarrow_table()
    return {tuple(row.values()) for row in table.to_pylist()}


def _last_commit(lake: Lake) -> tuple[int, str, dict]:
    table = DeltaTable(lake.uri(layout.CX_SURVEY_RESPONSES))
    last = table.history(1)[0]
    return table.version(), last["operation"], last.get("operationMetrics", {})


def test_a_later_build_writes_only_the_changed_answers_and_equals_a_build_from_scratch(lake: Lake, tmp_path: Path):
    writer = _write_first(lake)
    build_marts(lake, as_of=AS_OF)
    _write_second(writer)
    build_marts(lake, as_of=LATER + timedelta(days=1))

    # r-4 new, r-2 moved to cus_c; r-1 and r-3 unchanged (the old code overwrote all four)
    _, operation, metrics = _last_commit(lake)
    assert operation == "MERGE" and metrics["num_source_rows"] == 2
    assert (metrics["num_target_rows_inserted"], metrics["num_target_rows_updated"]) == (1, 1)
    by_id = {row[0]: row for row in _rows(lake)}
    assert by_id["r-2"][1] == "cus_c" and by_id["r-4"][1] == "cus_a"

    fresh = Lake(tmp_path / "fresh")
    _write_second(_write_first(fresh))
    build_marts(fresh, as_of=LATER + timedelta(days=1))
    assert _rows(lake) == _rows(fresh)

    version = _last_commit(lake)[0]
    build_marts(lake, as_of=LATER + timedelta(days=2))  # nothing changed: no commit
    assert _last_commit(lake)[0] == version
    assert _rows(lake) == _rows(fresh)
