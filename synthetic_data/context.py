"""Run configuration, per-chunk context and the in-memory row type shared by all source builders."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from .identifiers import IdSpace
from .reference import Reference
from .rng import stream
from .timefmt import iso_offset, iso_z


@dataclass(frozen=True)
class RunConfig:
    seed: int
    customers: int
    home: str
    start_ms: int
    days: int
    chunk_size: int
    rows_per_file: int
    reference: Reference
    ids: IdSpace

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * 86_400_000

    def test_events_for(self, first_idx: int, count: int) -> int:
        """The QA test account's events in this chunk: ~1,000 in total (fewer for small runs)."""
        total = round(1000 * min(1.0, self.customers / 10_000))
        return total * (first_idx + count) // self.customers - total * first_idx // self.customers


# One output record before serialisation: (time ms, record id, person id, data). ``data`` is a dict
# (JSONL), a list in header order (CSV) or an already-serialised line (events). Plain tuples, because
# millions are created per run.
Row = tuple[int, str | None, str, Any]
by_time = itemgetter(0)


@dataclass
class Chunk:
    """Everything a source builder needs for one chunk of persons."""

    cfg: RunConfig
    index: int
    first_idx: int
    count: int
    _counters: dict[str, int] = field(default_factory=dict)

    def rng(self, purpose: str) -> random.Random:
        return stream(self.cfg.seed, "chunk", self.index, purpose)

    def next_id(self, prefix: str) -> str:
        """Chunk-scoped sequential ids ("SO-0003-000017"): unique without any global registry."""
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}-{self.index:04d}-{n:06d}"


def ts_text(ms: int, rng: random.Random, local_share: float, offset_minutes: int = 420) -> str:
    """Mostly UTC 'Z' timestamps; a share written in local time with an offset (e.g. +07:00)."""
    if local_share and rng.random() < local_share:
        return iso_offset(ms, offset_minutes)
    return iso_z(ms)


def money(amount: int, currency: str) -> int | float:
    """JSON money: VND in whole dong (int), USD as a 2-dp number from integer cents."""
    return amount if currency == "VND" else round(amount / 100, 2)


def money_text(amount: int, currency: str) -> str:
    """CSV money: '350000' or '19.90'."""
    return str(amount) if currency == "VND" else f"{amount // 100}.{amount % 100:02d}"
