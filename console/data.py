"""What the console shows, read from the lake's gold tables: aggregates, verbatims, audiences and a customer's history.

Tables are read with ``deltalake`` (no engine to start) and cached per Delta version, re-checked at most every
``recheck_seconds``, so pages under load do not re-read unchanged tables. A table that is not built raises
:class:`NotBuilt`, which pages show as "not built yet: run cdp build" instead of failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from cdp import lake as layout
from cdp.lake import Lake, Table

# The tables the console reads, as cdp/lake.py names them.
SURVEY_METRICS = layout.CX_SURVEY_METRICS
KEY_DRIVERS = layout.CX_KEY_DRIVERS
TEXT_INSIGHTS = layout.CX_TEXT_INSIGHTS
JOURNEY_FUNNEL = layout.JOURNEY_FUNNEL
RETENTION_COHORTS = layout.CUSTOMER_RETENTION_COHORTS
SUPPORT_METRICS = layout.SUPPORT_SERVICE_METRICS


class NotBuilt(LookupError):
    """A table the page needs is not in the lake yet."""

    def __init__(self, table: Table) -> None:
        super().__init__(f"{table} is not built yet: run `cdp build` (or `cdp run`)")
        self.table = table


@dataclass
class _Cached:
    version: int
    checked_at: float
    value: Any


class LakeReader:
    def __init__(self, lake: Lake, recheck_seconds: float = 5.0) -> None:
        self.lake = lake
        self.recheck_seconds = recheck_seconds
        self._cache: dict[tuple[Table, str], _Cached] = {}
        self._versions: dict[Table, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def version(self, table: Table, *, fresh: bool = False) -> int:
        """The table's Delta version, re-read at most every ``recheck_seconds`` unless ``fresh``."""
        from deltalake import DeltaTable

        now = time.monotonic()
        known = self._versions.get(table)
        if not fresh and known is not None and now - known[1] < self.recheck_seconds:
            return known[0]
        if not self.lake.exists(table):
            raise NotBuilt(table)
        version = DeltaTable(self.lake.uri(table)).version()
        self._versions[table] = (version, now)
        return version

    def derived(self, table: Table, key: str, compute: Callable[[pa.Table], Any]) -> Any:
        """``compute(whole table)``, cached until the table's Delta version changes."""
        from deltalake import DeltaTable

        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((table, key))
        if hit is not None and now - hit.checked_at < self.recheck_seconds:
            return hit.value
        if not self.lake.exists(table):
            raise NotBuilt(table)
        delta = DeltaTable(self.lake.uri(table))
        if hit is not None and hit.version == delta.version():
            hit.checked_at = now
            return hit.value
        value = compute(delta.to_pyarrow_table())
        with self._lock:
            self._cache[(table, key)] = _Cached(delta.version(), now, value)
        return value

    def rows(self, table: Table, key: str = "rows") -> list[dict[str, Any]]:
        return self.derived(table, key, lambda t: t.to_pylist())

    def filtered(
        self, table: Table, condition: ds.Expression, columns: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows matching ``condition`` (read each time: used for one customer's history)."""
        from deltalake import DeltaTable

        if not self.lake.exists(table):
            raise NotBuilt(table)
        dataset = DeltaTable(self.lake.uri(table)).to_pyarrow_dataset()
        present = [c for c in columns if c in dataset.schema.names] if columns else None
        return dataset.to_table(filter=condition, columns=present).to_pylist()


# Aggregates -------------------------------------------------------------------------------------------------------


def survey_trends(reader: LakeReader, grain: str = "month") -> dict[str, list[dict[str, Any]]]:
    """NPS and CSAT over time for the whole business (dimension 'all'), with intervals and the reportable flag."""

    def compute(t: pa.Table) -> dict[str, list[dict[str, Any]]]:
        mask = pc.and_(pc.equal(t["dimension"], "all"), pc.equal(t["period_grain"], grain))
        rows = sorted(t.filter(mask).to_pylist(), key=lambda r: r["period_start"])
        pick = {
            "NPS": ("nps", "nps_ci_low", "nps_ci_high"),
            "CSAT": ("csat", "csat_ci_low", "csat_ci_high"),
            "CES": ("ces_mean", "ces_ci_low", "ces_ci_high"),
        }
        out: dict[str, list[dict[str, Any]]] = {}
        for survey, (value, low, high) in pick.items():
            out[survey] = [
                {
                    "period_start": r["period_start"].isoformat(),
                    "value": r[value],
                    "ci_low": r[low],
                    "ci_high": r[high],
                    "responses": r["responses"],
                    "is_reportable": r["is_reportable"],
                }
                for r in rows
                if r["survey_type"] == survey
            ]
        return out

    return reader.derived(SURVEY_METRICS, f"trends:{grain}", compute)


def survey_breakdown(reader: LakeReader, dimension: str, grain: str = "month") -> list[dict[str, Any]]:
    """The latest period's NPS/CSAT per value of a dimension (touchpoint, channel, store_id), reportable or not."""

    def compute(t: pa.Table) -> list[dict[str, Any]]:
        mask = pc.and_(pc.equal(t["dimension"], dimension), pc.equal(t["period_grain"], grain))
        rows = t.filter(mask).to_pylist()
        if not rows:
            return []
        latest = max(r["period_start"] for r in rows)
        keep = (
            "survey_type",
            "dimension_value",
            "responses",
            "is_reportable",
            "nps",
            "nps_ci_low",
            "nps_ci_high",
            "csat",
            "csat_ci_low",
            "csat_ci_high",
            "ces_mean",
        )
        found = [
            {k: r.get(k) for k in keep} | {"period_start": latest.isoformat()}
            for r in rows
            if r["period_start"] == latest and r["survey_type"] in ("NPS", "CSAT")
        ]
        return sorted(found, key=lambda r: (r["survey_type"], str(r["dimension_value"])))

    return reader.derived(SURVEY_METRICS, f"breakdown:{dimension}:{grain}", compute)


def key_drivers(reader: LakeReader) -> list[dict[str, Any]]:
    rows = reader.rows(KEY_DRIVERS)
    return sorted(rows, key=lambda r: (r.get("survey_type") or "", -(r.get("importance") or 0)))


def funnel(reader: LakeReader) -> list[dict[str, Any]]:
    """Sessions per funnel step summed over every week and channel, with conversion from the previous step."""

    def compute(t: pa.Table) -> list[dict[str, Any]]:
        totals: dict[tuple[int, str], int] = {}
        for r in t.select(["step_number", "step", "sessions"]).to_pylist():
            key = (r["step_number"], r["step"])
            totals[key] = totals.get(key, 0) + (r["sessions"] or 0)
        out, previous = [], None
        for (number, step), sessions in sorted(totals.items()):
            conversion: float | None = sessions / previous if previous else None
            out.append(
                {"step_number": number, "step": step, "sessions": sessions, "conversion_from_previous": conversion}
            )
            previous = sessions
        return out

    return reader.derived(JOURNEY_FUNNEL, "funnel", compute)


def retention(reader: LakeReader, max_months: int = 12) -> list[dict[str, Any]]:
    def compute(t: pa.Table) -> list[dict[str, Any]]:
        keep = ["cohort_month", "months_since_first", "cohort_customers", "active_customers", "retention_rate"]
        rows = [r for r in t.select(keep).to_pylist() if r["months_since_first"] <= max_months]
        for r in rows:
            r["cohort_month"] = r["cohort_month"].isoformat()[:7]
        return sorted(rows, key=lambda r: (r["cohort_month"], r["months_since_first"]))

    return reader.derived(RETENTION_COHORTS, f"retention:{max_months}", compute)


def support_by_channel(reader: LakeReader) -> list[dict[str, Any]]:
    """Tickets, first-contact resolution and escalations per channel over every week; waits as the median of the
    weekly medians (a median of the tickets themselves needs the ticket rows)."""

    def compute(t: pa.Table) -> list[dict[str, Any]]:
        import statistics

        by: dict[str, list[dict[str, Any]]] = {}
        for r in t.to_pylist():
            by.setdefault(r["channel"], []).append(r)
        out = []
        for channel, rows in sorted(by.items()):
            resolved = sum(r["resolved_tickets"] or 0 for r in rows)
            waits = [r["median_wait_minutes"] for r in rows if r["median_wait_minutes"] is not None]
            out.append(
                {
                    "channel": channel,
                    "weeks": len(rows),
                    "tickets": sum(r["tickets"] or 0 for r in rows),
                    "resolved_tickets": resolved,
                    "first_contact_resolution_rate": (
                        sum(r["first_contact_resolutions"] or 0 for r in rows) / resolved if resolved else None
                    ),
                    "escalated_tickets": sum(r["escalated_tickets"] or 0 for r in rows),
                    "median_weekly_median_wait_minutes": statistics.median(waits) if waits else None,
                }
            )
        return out

    return reader.derived(SUPPORT_METRICS, "by_channel", compute)


def audience_sizes(reader: LakeReader) -> list[dict[str, Any]]:
    """Current members per audience (activated and held out): counts only."""

    def compute(t: pa.Table) -> list[dict[str, Any]]:
        names = t.column_names
        current = t
        if "exited_at" in names:  # a membership still in force has not ended
            current = t.filter(pc.is_null(t["exited_at"]))
        holdout = "is_holdout" if "is_holdout" in names else None
        counts: dict[str, dict[str, int]] = {}
        columns = ["audience_name"] + ([holdout] if holdout else [])
        for r in current.select(columns).to_pylist():
            entry = counts.setdefault(r["audience_name"], {"members": 0, "holdout": 0})
            entry["holdout" if holdout and r[holdout] else "members"] += 1
        return [{"audience_name": k, **v} for k, v in sorted(counts.items())]

    return reader.derived(layout.AUDIENCE_MEMBERSHIPS, "sizes", compute)


def audiences(reader: LakeReader) -> list[dict[str, Any]]:
    """Audience definitions (names, purpose, channel): never their members."""
    keep = ("description", "owner", "purpose", "channel", "priority", "holdout_share")
    return [{"audience_name": r["name"], **{k: r.get(k) for k in keep}} for r in reader.rows(layout.AUDIENCES)]


# Verbatims --------------------------------------------------------------------------------------------------------

VERBATIM_COLUMNS = ("source", "language", "sentiment_label", "sentiment_score", "topics", "key_phrases", "written_at")


def verbatims(reader: LakeReader, mask: Callable[[str], str], limit: int = 200) -> list[dict[str, Any]]:
    """The latest comments and ticket texts, masked again by ``mask`` (the mart masks e-mails and phones at build;
    the console does not rely on it); never the customer id or contact details."""

    def compute(t: pa.Table) -> list[dict[str, Any]]:
        rows = sorted(t.to_pylist(), key=lambda r: str(r.get("written_at") or ""), reverse=True)
        return [
            {**{k: _plain(r.get(k)) for k in VERBATIM_COLUMNS}, "text": mask(r.get("masked_text") or "")}
            for r in rows[:limit]
        ]

    return reader.derived(TEXT_INSIGHTS, f"verbatims:{limit}", compute)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# One customer (agents only) ---------------------------------------------------------------------------------------

CONTACT_COLUMNS = ("customer_id", "first_name", "last_name", "email", "phone", "city", "country")


def customer_contact(reader: LakeReader, customer_id: str) -> dict[str, Any] | None:
    found = reader.filtered(layout.CUSTOMERS, ds.field("customer_id") == customer_id, list(CONTACT_COLUMNS))
    return found[0] if found else None


HISTORY: dict[str, tuple[Table, str, tuple[str, ...]]] = {
    "orders": (layout.CUSTOMER_ORDERS, "ordered_at",
               ("ordered_at", "source_record_id", "channel", "store_id", "status", "total_amount", "currency")),
    "surveys": (layout.CX_SURVEY_RESPONSES, "responded_at",
                ("responded_at", "survey_type", "score", "category", "touchpoint", "channel", "store_id")),
    "texts": (TEXT_INSIGHTS, "written_at", ("written_at", "source", "source_id", "sentiment_label", "masked_text")),
}  # fmt: skip


def customer_history(reader: LakeReader, customer_id: str, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Orders, survey answers, comments and tickets of one customer, newest first (a table not built: empty)."""
    history: dict[str, list[dict[str, Any]]] = {}
    for name, (table, order, columns) in HISTORY.items():
        try:
            rows = reader.filtered(table, ds.field("customer_id") == customer_id, list(columns))
        except NotBuilt:
            rows = []
        rows.sort(key=lambda r: str(r.get(order) or ""), reverse=True)
        history[name] = [{k: _plain(v) for k, v in r.items()} for r in rows[:limit]]
    return history
