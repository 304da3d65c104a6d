"""Time as integer epoch milliseconds, rendered to ISO-8601 strings.

Formatting is hand-rolled (with a per-day cache) because datetime.isoformat/strftime would be
called millions of times per run and dominate the runtime.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

MS_SECOND = 1_000
MS_MINUTE = 60 * MS_SECOND
MS_HOUR = 60 * MS_MINUTE
MS_DAY = 24 * MS_HOUR
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def to_ms(dt: datetime) -> int:
    """Epoch ms of an aware datetime (naive datetimes are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@lru_cache(maxsize=8192)
def day_str(day: int) -> str:
    """'YYYY-MM-DD' for a day number since the epoch."""
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


def date_str(ms: int) -> str:
    return day_str(ms // MS_DAY)


# Lookup tables: "YYYY-MM-DDTHH:MM:" per minute (memoised, built from a per-hour memo) and "SS.mmm"
# per millisecond of a minute; a timestamp is then a dict lookup, a tuple lookup and a concatenation.
_MIN = tuple(f"{m:02d}:" for m in range(60))
_SEC_MS = tuple(f"{s:02d}.{m:03d}" for s in range(60) for m in range(1000))
_HOURS: dict[int, str] = {}
_MINUTES: dict[int, str] = {}
_MINUTES_MAX = 1 << 16  # ~45 days of minutes (~8 MB); cleared when full to bound memory


def _minute_prefix(minute: int) -> str:
    if len(_MINUTES) >= _MINUTES_MAX:
        _MINUTES.clear()
    hour, m = divmod(minute, 60)
    hp = _HOURS.get(hour)
    if hp is None:
        day, h = divmod(hour, 24)
        hp = _HOURS[hour] = f"{day_str(day)}T{h:02d}:"
    prefix = _MINUTES[minute] = hp + _MIN[m]
    return prefix


def iso_z(ms: int) -> str:
    """'2025-03-01T10:00:00.123Z'."""
    minute, rem = divmod(ms, MS_MINUTE)
    return (_MINUTES.get(minute) or _minute_prefix(minute)) + _SEC_MS[rem] + "Z"


def iso_offset(ms: int, offset_minutes: int) -> str:
    """The same instant written in local time with an explicit offset, e.g. '...T17:00:00.123+07:00'."""
    if offset_minutes == 0:
        return iso_z(ms)
    minute, rem = divmod(ms + offset_minutes * MS_MINUTE, MS_MINUTE)
    sign = "+" if offset_minutes > 0 else "-"
    oh, om = divmod(abs(offset_minutes), 60)
    return f"{_MINUTES.get(minute) or _minute_prefix(minute)}{_SEC_MS[rem]}{sign}{oh:02d}:{om:02d}"
