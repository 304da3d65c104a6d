"""Per-run values of a marts build (``as_of``, ``clv_refit``), handed to dbt as DuckDB variables, not ``--vars``.

dbt re-parses the whole project whenever ``--vars`` differ from the last invocation's (tens of seconds on a busy
machine), and ``as_of`` differs on every build. So :mod:`marts.build` puts these values in environment variables
(``CDP_AS_OF``, the same key the settings read, and ``CDP_CLV_REFIT``), the lake plugin
(:mod:`marts.dbt_lake_plugin`) sets them on every DuckDB cursor dbt opens (``SET VARIABLE``), the ``as_of()``
macro reads ``getvariable('cdp_as_of')`` and Python models call :func:`session_as_of` / :func:`session_clv_refit`.
A dbt var ``as_of`` (dbt unit tests, ``--vars`` by hand) still takes precedence everywhere.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

AS_OF_ENV = "CDP_AS_OF"
CLV_REFIT_ENV = "CDP_CLV_REFIT"
AS_OF_VARIABLE = "cdp_as_of"
CLV_REFIT_VARIABLE = "cdp_clv_refit"


def parse_as_of(text: str) -> datetime:
    """An ISO-8601 time as an aware datetime (UTC when it names no zone); the error names the variable."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"{AS_OF_ENV}={text!r} is not an ISO-8601 time (e.g. 2026-01-01T00:00:00+00:00)") from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def env_as_of(default: datetime) -> datetime:
    """The run's as_of from ``CDP_AS_OF``, else ``default`` (the run's start)."""
    text = os.environ.get(AS_OF_ENV, "")
    return parse_as_of(text) if text.strip() else default


def env_clv_refit() -> bool:
    return os.environ.get(CLV_REFIT_ENV, "").strip().lower() in ("1", "true", "yes")


def set_run_variables(cursor: Any, *, as_of: datetime, clv_refit: bool) -> None:
    """Set the run's values on one DuckDB connection (variables are per connection, so on every cursor)."""
    # isoformat() of a datetime: no quote can reach the statement
    cursor.execute(f"set variable {AS_OF_VARIABLE} = timestamptz '{as_of.astimezone(UTC).isoformat()}'")
    cursor.execute(f"set variable {CLV_REFIT_VARIABLE} = {'true' if clv_refit else 'false'}")


def session_as_of(session: Any, configured: object = None) -> datetime:
    """The as_of of a Python model: the dbt var when given (``configured``), else the run's DuckDB variable."""
    if configured is not None and str(configured).strip():
        return parse_as_of(str(configured))
    row = session.execute(f"select getvariable('{AS_OF_VARIABLE}')").fetchone()
    if row is None or row[0] is None:
        raise RuntimeError(
            f"no DuckDB variable {AS_OF_VARIABLE}: the lake plugin (marts.dbt_lake_plugin, profiles.yml) sets it"
        )
    value: datetime = row[0]
    return value.astimezone(UTC)


def session_clv_refit(session: Any, configured: object = None) -> bool:
    """Whether to refit CLV now: the dbt var ``clv_refit`` or ``CDP_CLV_REFIT`` (``cdp build --refit-clv``)."""
    if str(configured).strip().lower() == "true":
        return True
    row = session.execute(f"select getvariable('{CLV_REFIT_VARIABLE}')").fetchone()
    return bool(row and row[0])
