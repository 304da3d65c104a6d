"""The scheduled exports (``exports:`` in the rules file), run after every build by `cdp run` and by Dagster.

Each export is independent: one that fails (a destination down) is reported and the others still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from activation.destinations import build_destination
from activation.export import SyncReport, export_audience
from activation.rules import Rules
from cdp.lake import Lake

log = logging.getLogger(__name__)


@dataclass
class ExportOutcome:
    audience: str
    destination: str
    report: SyncReport | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.status == "completed"


def run_exports(
    lake: Lake,
    rules: Rules,
    *,
    send_time: datetime,
    postgres_url: str,
    webhook_url: str | None = None,
    dry_run: bool = False,
    env: str = "local",
) -> list[ExportOutcome]:
    outcomes = []
    for planned in rules.exports:
        if env not in planned.environments:
            continue
        try:
            destination = build_destination(
                planned.destination,
                rules.destinations[planned.destination],
                exports_dir=lake.exports_dir(),
                postgres_url=postgres_url,
                webhook_url=webhook_url,
            )
            report = export_audience(
                lake, rules, planned.audience, destination, mode=planned.mode, send_time=send_time, dry_run=dry_run
            )
            outcomes.append(ExportOutcome(planned.audience, planned.destination, report))
        except Exception as exc:  # one destination down must not stop the other exports
            log.error("export %s -> %s failed: %s", planned.audience, planned.destination, type(exc).__name__)
            outcomes.append(ExportOutcome(planned.audience, planned.destination, None, f"{type(exc).__name__}: {exc}"))
    return outcomes
