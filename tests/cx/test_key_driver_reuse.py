"""int_cx__key_driver_estimates re-uses its last estimates: always when the inputs are unchanged, and while they are
younger than cx_key_driver_refit_days (7) when responses arrived; otherwise it fits again (real dbt builds)."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from cdp import lake as layout
from cdp.lake import Lake
from cx.key_drivers import AnalysisSettings, build_driver_matrix, inputs_fingerprint
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter


def _responses(ids: range, responded_at) -> list[dict]:
    return [{"response_id": f"SR-{i}", "survey_type": "NPS", "score": i % 11, "channel": "web",
             "responded_at": responded_at, "language": "en"} for i in ids]  # fmt: skip


def _fit(lake: Lake) -> tuple[set, int]:
    """(the as_of values the table was computed for, the NPS responses it counted)."""
    con = duckdb.connect()
    load_delta_extension(con)
    rows = con.execute(
        f"select computed_for_as_of, responses + responses_excluded as answers, survey_type "
        f"from delta_scan('{lake.uri(layout.CX_KEY_DRIVERS)}')"
    ).fetchall()
    return {row[0] for row in rows}, max(row[1] for row in rows if row[2] == "NPS")


def test_estimates_are_reused_until_the_inputs_change_and_the_fit_is_old(tmp_path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    writer.bronze("survey_responses", _responses(range(30), AS_OF - timedelta(days=3)))
    writer.write_identity()
    build_marts(lake, as_of=AS_OF, select="+cx_key_drivers")
    assert _fit(lake) == ({AS_OF}, 30)

    build_marts(lake, as_of=AS_OF + timedelta(days=1), select="+cx_key_drivers")
    assert _fit(lake) == ({AS_OF}, 30)  # same inputs: re-used

    writer.bronze("survey_responses", _responses(range(30, 35), AS_OF + timedelta(days=2)),
                  ingested_at=AS_OF + timedelta(days=2))  # fmt: skip
    build_marts(lake, as_of=AS_OF + timedelta(days=3), select="+cx_key_drivers")
    assert _fit(lake) == ({AS_OF}, 30)  # new responses, but the fit is 3 days old: re-used

    build_marts(lake, as_of=AS_OF + timedelta(days=8), select="+cx_key_drivers")
    assert _fit(lake) == ({AS_OF + timedelta(days=8)}, 35)  # new responses and 8 days old: fitted again

    build_marts(lake, as_of=AS_OF + timedelta(days=30), select="+cx_key_drivers")
    assert _fit(lake) == ({AS_OF + timedelta(days=8)}, 35)  # 22 days old, but the same inputs: re-used


def test_the_fingerprint_follows_the_inputs_not_their_order():
    responses = pd.DataFrame(
        {"response_id": ["R1", "R2", "R3"], "survey_type": ["NPS", "NPS", "CSAT"], "score": [9, 3, 4],
         "order_id": [None, None, None], "ticket_id": [None, None, None]}
    )  # fmt: skip
    orders = pd.DataFrame(columns=["order_id", "promised_delivery_at", "delivered_at", "amount_reporting"])
    tickets = pd.DataFrame(columns=["ticket_id", "opened_at", "first_response_at", "contact_count", "channel"])
    settings = AnalysisSettings()
    base = inputs_fingerprint(build_driver_matrix(responses, orders, tickets), settings)

    shuffled = responses.iloc[[2, 0, 1]].reset_index(drop=True)
    assert inputs_fingerprint(build_driver_matrix(shuffled, orders, tickets), settings) == base
    changed = responses.assign(score=[9, 4, 4])
    assert inputs_fingerprint(build_driver_matrix(changed, orders, tickets), settings) != base
    assert inputs_fingerprint(build_driver_matrix(responses, orders, tickets), AnalysisSettings(seed=1)) != base


def test_a_young_fit_is_reused_without_reading_the_inputs():
    """The age rule comes first: within cx_key_driver_refit_days the inputs (the fingerprint, which reads every
    response with its order and ticket) are never read; an older fit is re-used only for the same fingerprint."""
    from cx.key_drivers import RESULT_COLUMNS, reusable_estimates

    previous = pd.DataFrame([{**dict.fromkeys(RESULT_COLUMNS, 0), "computed_for_as_of": AS_OF,
                              "input_fingerprint": "f1"}])  # fmt: skip
    read: list[str] = []

    def fingerprint(value: str):
        def read_inputs() -> str:
            read.append(value)
            return value

        return read_inputs

    young = reusable_estimates(previous, fingerprint=fingerprint("f2"), as_of=AS_OF + timedelta(days=6), refit_days=7)
    assert young is previous and read == []
    old = AS_OF + timedelta(days=7)
    assert reusable_estimates(previous, fingerprint=fingerprint("f1"), as_of=old, refit_days=7) is previous
    assert reusable_estimates(previous, fingerprint=fingerprint("f2"), as_of=old, refit_days=7) is None
    assert read == ["f1", "f2"]
