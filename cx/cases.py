"""Follow-up cases: what agents do to close the loop, and the case queue with their latest work applied.

``gold.cx_cases`` (dbt, models/marts/cx/cx_cases.sql) opens one case per triggering record; its status comes from
``audit.cx_case_actions``, the append-only log this module writes. Rebuilding the marts therefore never loses an
agent's work, and :func:`case_queue` / :func:`case_detail` apply the log's latest action on top of the last build
so an update shows at once (the console and ``cdp cx cases`` read through here).

The state rules match ``int_cx__case_state.sql``: the latest action (by ``acted_at``, then ``recorded_at``) sets the
status; ``contacted_at`` is the first contacted or resolved action; ``resolved_at`` and ``resolution_note`` belong to
a latest action that resolved the case; ``assigned_to`` is the latest explicit assignment, else the latest actor.

Two agents acting on one case at the same instant can both pass the transition check (the log is append-only, so
both actions are kept and the later one wins).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake
from marts.duckdb_delta import lake_connection

STATUSES = ("open", "contacted", "resolved")
# Which status may follow which: a contacted case can be contacted again (another attempt, another note); a resolved
# case can be reopened when the customer comes back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"contacted", "resolved"}),
    "contacted": frozenset({"contacted", "resolved"}),
    "resolved": frozenset({"open"}),
}
_UTC_MICROS = pa.timestamp("us", tz="UTC")
ACTIONS_SCHEMA = pa.schema(
    [
        ("action_id", pa.string()),
        ("case_id", pa.string()),
        ("customer_id", pa.string()),  # so `cdp erase` removes a person's case actions with their cases
        ("status", pa.string()),
        ("note", pa.string()),
        ("actor", pa.string()),
        ("assigned_to", pa.string()),
        ("acted_at", _UTC_MICROS),
        ("recorded_at", _UTC_MICROS),
    ]
)


class CaseError(ValueError):
    """An action that cannot be recorded (unknown status, forbidden transition, missing note, time out of order)."""


class CaseNotFound(LookupError):
    """No such case in gold.cx_cases (not built yet, mistyped, or erased)."""


@dataclass(frozen=True)
class CaseAction:
    action_id: str
    case_id: str
    customer_id: str | None
    status: str
    note: str | None
    actor: str
    assigned_to: str | None
    acted_at: datetime
    recorded_at: datetime


def check_transition(current: str, new: str) -> None:
    """Raise CaseError unless a case in status ``current`` may move to ``new``."""
    if new not in STATUSES:
        raise CaseError(f"unknown status {new!r}: use one of {', '.join(STATUSES)}")
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise CaseError(f"a case that is {current} cannot become {new}: it can become {allowed}")


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise CaseError(f"time {at.isoformat()} has no time zone: give it in UTC or with an offset")
    return at.astimezone(UTC)


# The latest state of every case in the action log (see the module docstring); `{actions}` is a relation.
_STATE_SQL = """
    select
        case_id,
        max(status) filter (where recency = 1) as status,
        max(acted_at) filter (where recency = 1) as last_action_at,
        min(acted_at) filter (where status in ('contacted', 'resolved')) as contacted_at,
        max(acted_at) filter (where recency = 1 and status = 'resolved') as resolved_at,
        max(note) filter (where recency = 1 and status = 'resolved') as resolution_note,
        coalesce(
            arg_max(assigned_to, acted_at) filter (where assigned_to is not null),
            max(actor) filter (where recency = 1)
        ) as assigned_to,
        count(*) as actions
    from (
        select *, row_number() over (partition by case_id order by acted_at desc, recorded_at desc) as recency
        from {actions}
    )
    group by case_id
"""


class _Reader:
    """A DuckDB connection with the lake's cases and the action log as views (an empty log when none exists)."""

    def __init__(self, lake: Lake) -> None:
        if not lake.exists(layout.CX_CASES):
            raise CaseNotFound(f"no table {layout.CX_CASES} under {lake.root}: build the marts first (`cdp build`)")
        self.con = lake_connection()  # the process's database: temp views, so other readers keep theirs
        self.con.execute(f"create temp view cases as select * from delta_scan('{lake.uri(layout.CX_CASES)}')")
        if lake.exists(layout.CX_CASE_ACTIONS):
            actions = lake.uri(layout.CX_CASE_ACTIONS)
            self.con.execute(f"create temp view actions as select * from delta_scan('{actions}')")
        else:
            self.con.register("empty_actions", ACTIONS_SCHEMA.empty_table())
            self.con.execute("create temp view actions as select * from empty_actions")
        # The build's cases with the whole log's latest state on top (the build saw the log only up to its as_of).
        self.con.execute(
            f"""
            create temp view current_cases as
            select
                cases.* replace (
                    case when state.case_id is null then cases.status else state.status end as status,
                    case when state.case_id is null then cases.contacted_at else state.contacted_at end
                        as contacted_at,
                    case when state.case_id is null then cases.resolved_at else state.resolved_at end as resolved_at,
                    case when state.case_id is null then cases.resolution_note else state.resolution_note end
                        as resolution_note,
                    case when state.case_id is null then cases.assigned_to else state.assigned_to end as assigned_to,
                    case when state.case_id is null then cases.last_action_at else state.last_action_at end
                        as last_action_at,
                    coalesce(state.actions, cases.actions) as actions,
                    coalesce(state.status, cases.status) <> 'resolved' and cases.due_at < now() as is_overdue,
                    case when coalesce(state.status, cases.status) = 'resolved'
                        then coalesce(state.resolved_at, cases.resolved_at) <= cases.due_at end
                        as is_resolved_within_sla
                )
            from cases
            left join ({_STATE_SQL.format(actions="actions")}) as state using (case_id)
            """
        )

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, params or [])
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.con.close()


def case_queue(
    lake: Lake,
    queue: str | None = None,
    status: str | None = None,
    *,
    customer_id: str | None = None,
    overdue_only: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Cases as agents work them: unresolved first, then by due time; optionally one queue, status or customer."""
    if status is not None and status not in STATUSES:
        raise CaseError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    conditions, params = ["true"], []
    for column, value in (("queue", queue), ("status", status), ("customer_id", customer_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if overdue_only:
        conditions.append("is_overdue")
    reader = _Reader(lake)
    try:
        return reader.rows(
            f"select * from current_cases where {' and '.join(conditions)} "
            "order by status = 'resolved', due_at, case_id limit ?",
            [*params, limit],
        )
    finally:
        reader.close()


def case_detail(lake: Lake, case_id: str) -> dict[str, Any]:
    """One case with the latest action applied and its action history (oldest first) under ``history``."""
    reader = _Reader(lake)
    try:
        found = reader.rows("select * from current_cases where case_id = ?", [case_id])
        if not found:
            raise CaseNotFound(f"no case {case_id!r} in {layout.CX_CASES}: list cases with `cdp cx cases list`")
        history = reader.rows(
            "select action_id, status, note, actor, assigned_to, acted_at, recorded_at from actions "
            "where case_id = ? order by acted_at, recorded_at",
            [case_id],
        )
    finally:
        reader.close()
    return {**found[0], "history": history}


def record_action(
    lake: Lake,
    case_id: str,
    status: str,
    note: str | None,
    actor: str,
    at: datetime | None = None,
    *,
    assigned_to: str | None = None,
) -> CaseAction:
    """Append one action on a case to ``audit.cx_case_actions`` after checking it (see :func:`check_transition`).

    A resolution needs a note (what was done for the customer); ``at`` defaults to now and may not be before the
    case was opened or before the case's latest action."""
    if not actor or not actor.strip():
        raise CaseError("an action needs the actor (who did it)")
    note = note.strip() if note else None
    if status == "resolved" and not note:
        raise CaseError("resolving a case needs a resolution note (what was done for the customer)")
    now = datetime.now(UTC)
    acted_at = _utc(at) if at is not None else now
    case = case_detail(lake, case_id)
    check_transition(case["status"], status)
    if acted_at < case["opened_at"]:
        raise CaseError(
            f"action time {acted_at.isoformat()} is before case {case_id} was opened ({case['opened_at'].isoformat()})"
        )
    if case["last_action_at"] is not None and acted_at < case["last_action_at"]:
        raise CaseError(
            f"action time {acted_at.isoformat()} is before the case's latest action "
            f"({case['last_action_at'].isoformat()}): actions are recorded in order"
        )
    action = CaseAction(
        action_id=f"act_{uuid.uuid4().hex}",
        case_id=case_id,
        customer_id=case["customer_id"],
        status=status,
        note=note,
        actor=actor.strip(),
        assigned_to=assigned_to,
        acted_at=acted_at,
        recorded_at=now,
    )
    row = {field: getattr(action, field) for field in ACTIONS_SCHEMA.names}
    write_deltalake(lake.uri(layout.CX_CASE_ACTIONS), pa.Table.from_pylist([row], schema=ACTIONS_SCHEMA), mode="append")
    return action
