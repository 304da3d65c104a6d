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


def iso_z(ms: int) -> str:
    """'2025-03-01T10:00:00.123Z'."""
    day, rem = divmod(ms, MS_DAY)
    h, rem = divmod(rem, MS_HOUR)
    m, rem = divmod(rem, MS_MINUTE)
    s, milli = divmod(rem, MS_SECOND)
    return f"{day_str(day)}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


def iso_offset(ms: int, offset_minutes: int) -> str:
    """The same instant written in local time with an explicit offset, e.g. '...T17:00:00.123+07:00'."""
    if offset_minutes == 0:
        return iso_z(ms)
    local = ms + offset_minutes * MS_MINUTE
    day, rem = divmod(local, MS_DAY)
    h, rem = divmod(rem, MS_HOUR)
    m, rem = divmod(rem, MS_MINUTE)
    s, milli = divmod(rem, MS_SECOND)
    sign = "+" if offset_minutes > 0 else "-"
    oh, om = divmod(abs(offset_minutes), 60)
    return f"{day_str(day)}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}{sign}{oh:02d}:{om:02d}"
