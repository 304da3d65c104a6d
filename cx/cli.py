"""``cdp cx cases list|show|update``: work the follow-up case queue from the command line (the console does the same).

Customer contact details are not printed: the case shows the customer id; look the person up where your role allows.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from cdp.lake import Lake
from cdp.settings import Settings

console = Console()
cx_app = typer.Typer(help="Customer experience: survey metrics and follow-up cases.", no_args_is_help=True)
cases_app = typer.Typer(help="Follow-up cases (gold.cx_cases) and the agents' actions on them.", no_args_is_help=True)
cx_app.add_typer(cases_app, name="cases")

LakeOption = Annotated[Path | None, typer.Option("--lake", help="Lake root folder [default: CDP_LAKE_ROOT]")]


def _lake(lake: Path | None) -> Lake:
    return Lake(lake.resolve() if lake is not None else Settings().lake_root)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


@cases_app.command("list")
def cases_list(
    lake: LakeOption = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue, e.g. detractor_followup.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status: open, contacted or resolved.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only unresolved cases past their due time.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Cases to show.")] = 50,
) -> None:
    """The case queue as agents work it: unresolved first, the earliest due first, with agents' latest updates."""
    from cx.cases import CaseError, CaseNotFound, case_queue

    try:
        cases = case_queue(_lake(lake), queue=queue, status=status, overdue_only=overdue, limit=limit)
    except (CaseError, CaseNotFound) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    table = RichTable("case", "queue", "trigger", "priority", "status", "opened", "due", "overdue", "assigned to",
                      title=f"Follow-up cases ({len(cases)} shown)")  # fmt: skip
    for c in cases:
        table.add_row(c["case_id"], c["queue"], c["trigger_name"], c["priority"], c["status"], _text(c["opened_at"]),
                      _text(c["due_at"]), "yes" if c["is_overdue"] else "", _text(c["assigned_to"]))  # fmt: skip
    console.print(table)


@cases_app.command("show")
def cases_show(case_id: Annotated[str, typer.Argument(help="Case id, e.g. case_54d28fee466998996d12.")],
               lake: LakeOption = None) -> None:  # fmt: skip
    """One case: what triggered it, its SLA, status and every action taken on it."""
    from cx.cases import CaseNotFound, case_detail

    try:
        case = case_detail(_lake(lake), case_id)
    except CaseNotFound as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    history = case.pop("history")
    table = RichTable("field", "value", title=f"Case {case_id}")
    for key, value in case.items():
        table.add_row(key, _text(value))
    console.print(table)
    actions = RichTable("at", "status", "actor", "assigned to", "note", title="Actions")
    for a in history:
        actions.add_row(_text(a["acted_at"]), a["status"], a["actor"], _text(a["assigned_to"]), _text(a["note"]))
    console.print(actions if history else "No actions yet.")


@cases_app.command("update")
def cases_update(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    status: Annotated[str, typer.Option(help="New status: contacted, resolved, or open (reopen a resolved case).")],
    note: Annotated[str | None, typer.Option(help="What was done (required to resolve).")] = None,
    actor: Annotated[str | None, typer.Option(help="Who did it [default: the current user].")] = None,
    assign_to: Annotated[str | None, typer.Option("--assign-to", help="Hand the case to this agent.")] = None,
    at: Annotated[str | None, typer.Option(help="When it was done, ISO-8601 with offset [default: now].")] = None,
    lake: LakeOption = None,
) -> None:
    """Record an action on a case (appended to audit.cx_case_actions; shown at once, kept by every rebuild)."""
    from cx.cases import CaseError, CaseNotFound, record_action

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter(
                f"{at!r} is not an ISO-8601 time, e.g. 2025-12-31T09:00:00Z", param_hint="--at"
            ) from None
    try:
        action = record_action(
            _lake(lake), case_id, status, note, actor or getpass.getuser(), when, assigned_to=assign_to
        )
    except (CaseError, CaseNotFound) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"Case {case_id} is now {action.status} ({action.action_id} by {action.actor}).")
