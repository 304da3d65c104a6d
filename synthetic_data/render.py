"""Serialise one chunk: rows -> CSV/JSONL lines, plus the chunk's ground-truth pieces.

``render_chunk`` is a pure function of (run config, chunk index), so chunks can be rendered in worker
processes in any order and still give byte-identical output once written in index order.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from .chunk import build_chunk
from .context import Row, RunConfig
from .identifiers import IdSpace
from .people import Household, Person
from .reference import build_reference
from .schema import SOURCE_BY_NAME, SourceSpec
from .truth import person_row

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class RenderedSource:
    lines: list[str]  # serialised records without line terminator
    rids: list[str | None]  # record id per line (None: identified by file:row_number)
    pids: list[str]  # true person per line
    # planted bad rows: line index -> (kind, field, detail, index of the original for duplicates or -1)
    bad: dict[int, tuple[str, str, str, int]]


@dataclass
class RenderedChunk:
    index: int
    count: int
    sources: dict[str, RenderedSource]
    persons_csv: str  # rows for _ground_truth/persons.csv.gz
    households: list[Household]
    test_events: int
    store_phone_rows: int
    duplicate_contacts: int
    churners: int
    same_second_consent: list[dict[str, object]]
    over_messaged: list[dict[str, object]]
    consent_violations: list[dict[str, object]]


def csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()[:-1]


def parse_line(spec: SourceSpec, line: str) -> Any:
    return next(csv.reader([line])) if spec.is_csv else json.loads(line)


def dump_line(spec: SourceSpec, data: Any) -> str:
    return csv_line(data) if spec.is_csv else _encode(data)


def _csv_lines(rows: list[Row]) -> list[str]:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([r[3] for r in rows])
    lines = buf.getvalue().split("\n")[:-1]
    if len(lines) != len(rows):  # a quoted field spanned lines: fall back to one row at a time
        lines = [csv_line(r[3]) for r in rows]
    return lines


def _render_rows(spec: SourceSpec, rows: list[Row]) -> RenderedSource:
    # events arrive already serialised (str); other JSONL rows are dicts
    lines = _csv_lines(rows) if spec.is_csv else [r[3] if isinstance(r[3], str) else _encode(r[3]) for r in rows]
    return RenderedSource(lines, [r[1] for r in rows], [r[2] for r in rows], {})


def _persons_csv(persons: list[Person]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([person_row(p) for p in persons])
    return buf.getvalue()


def render_chunk(cfg: RunConfig, index: int, first_idx: int, count: int) -> RenderedChunk:
    out = build_chunk(cfg, index, first_idx, count)
    return RenderedChunk(
        index=index,
        count=count,
        sources={name: _render_rows(SOURCE_BY_NAME[name], rows) for name, rows in out.rows.items()},
        persons_csv=_persons_csv(out.persons),
        households=out.households,
        test_events=out.test_events,
        store_phone_rows=out.store_phone_rows,
        duplicate_contacts=out.duplicate_contacts,
        churners=sum(1 for p in out.persons if p.churn_at is not None),
        same_second_consent=out.same_second_consent,
        over_messaged=out.over_messaged,
        consent_violations=out.consent_violations,
    )


def make_config(
    seed: int, customers: int, home: str, start_ms: int, days: int, chunk_size: int, rows_per_file: int
) -> RunConfig:
    return RunConfig(
        seed=seed,
        customers=customers,
        home=home,
        start_ms=start_ms,
        days=days,
        chunk_size=chunk_size,
        rows_per_file=rows_per_file,
        reference=build_reference(seed, home, start_ms, days),
        ids=IdSpace(seed, customers),
    )


# -- worker-process entry points (top-level so they can be pickled by reference) --------------------
_WORKER_CFG: list[RunConfig] = []


def init_worker(args: tuple[Any, ...]) -> None:
    _WORKER_CFG[:] = [make_config(*args)]


def render_task(index: int, first_idx: int, count: int) -> RenderedChunk:
    return render_chunk(_WORKER_CFG[0], index, first_idx, count)
