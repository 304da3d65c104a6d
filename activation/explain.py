"""Why a person was in or out of an audience's export: the engine's decision for them now, and past audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activation.decisions import decide_on
from activation.inputs import load_inputs
from activation.rules import Rules
from cdp import lake as layout
from cdp.lake import Lake

_READABLE = {
    "eligible": "sent: every check passed",
    "no_consent": "not sent: no consent event for this purpose and channel at send time",
    "consent_withdrawn": "not sent: the latest consent event at send time is a withdrawal",
    "holdout": "not sent: in the audience's holdout group (measures lift)",
    "care:open_case": "not sent: an open complaint case (care rule, promotional purposes)",
    "care:recent_detractor": "not sent: a recent detractor score (care rule, promotional purposes)",
    "higher_priority_audience": "not sent: member of a higher-priority audience on the same channel",
    "quiet_hours": "not sent: quiet hours in the person's time zone",
}


def readable(reason: str) -> str:
    if reason.startswith("frequency_cap:"):
        return f"not sent: frequency cap {reason.partition(':')[2]} reached"
    if reason.startswith("not_relevant:"):
        return f"not sent: the campaign's {reason.partition(':')[2]} eligibility does not include this person"
    return _READABLE.get(reason, reason)


@dataclass
class Explanation:
    audience: str
    customer_id: str
    is_member: bool
    now: dict[str, Any] | None  # the engine's decision at send_time
    history: list[dict[str, Any]]  # audited decisions, newest first


def explain(lake: Lake, rules: Rules, audience_name: str, customer_id: str, send_time: datetime) -> Explanation:
    loaded = load_inputs(lake, rules, audience_name, send_time, customer_id=customer_id)
    try:
        rows = decide_on(
            loaded.con, loaded.audience, rules, send_time, consent_in_force=loaded.consent_in_force
        ).to_pylist()
    finally:
        loaded.con.close()
    history: list[dict[str, Any]] = []
    if lake.exists(layout.ACTIVATION_DECISIONS):
        from deltalake import DeltaTable

        audit = DeltaTable(lake.uri(layout.ACTIVATION_DECISIONS)).to_pyarrow_dataset()
        import pyarrow.dataset as ds

        found = audit.to_table(
            filter=(ds.field("customer_id") == customer_id) & (ds.field("audience_name") == loaded.audience.name)
        )
        history = sorted(found.to_pylist(), key=lambda r: r["send_time"], reverse=True)
    return Explanation(loaded.audience.name, customer_id, bool(rows), rows[0] if rows else None, history)
