"""The generation loop: render chunks (in worker processes when worthwhile), plant bad rows, write
part files and ground truth in chunk order.

Only a bounded number of rendered chunks is in memory at a time (one per worker plus the one being
written); what accumulates across chunks is small (planted facts and bad-row locations, each ~1% of
persons or less). Chunk content depends only on (arguments, chunk index), and bad rows are planted
in the main process in chunk order, so the output is identical whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .corrupt import DUP_ACROSS_FILES, DUP_IN_FILE, DUPLICATE, KINDS, plant_bad_rows
from .people import TEST_CUSTOMER_REF, TEST_EMAIL, TEST_PERSON_ID
from .reference import COUNTRIES, STORE_PHONE_REUSE_STORE
from .render import RenderedChunk, RenderedSource, init_worker, make_config, render_chunk, render_task
from .rng import stream
from .schema import EVENTS, SOURCES, TRUTH_DIR, SourceSpec
from .surveys import MODELS
from .timefmt import iso_z, to_ms
from .truth import TruthWriter
from .writer import RotatingWriter

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_CHUNK_SIZE = 2_500
ROWS_PER_FILE = 100_000
GUARANTEE_MIN_CUSTOMERS = 1_000  # from this size on, every bad-row kind appears in every source
MAX_AUTO_WORKERS = 4
AUTO_WORKERS_MIN_CHUNKS = 8
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    customers: int
    seed: int
    files: dict[str, int]  # source name -> number of files written
    rows: dict[str, int]  # source name -> data rows written (incl. planted bad rows)
    planted_bad_rows: dict[str, int]  # source name -> rows that the ingest must quarantine
    truth_dir: Path


class _Planted:
    """Facts accumulated across chunks for planted.json."""

    def __init__(self) -> None:
        self.bad_rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in SOURCES}
        self.shared_emails: list[dict[str, Any]] = []
        self.shared_devices: list[dict[str, Any]] = []
        self.over_messaged: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.same_second: list[dict[str, Any]] = []
        self.test_events = 0
        self.store_phone_rows = 0
        self.duplicate_contacts = 0
        self.churners = 0
        self.households = 0

    def add_chunk(self, out: RenderedChunk) -> None:
        for h in out.households:
            self.households += 1
            if h.shared_email:
                self.shared_emails.append({"email": h.shared_email, "person_ids": list(h.person_ids)})
            if h.shared_device_id:
                self.shared_devices.append(
                    {
                        "device_id": h.shared_device_id,
                        "anonymous_id": h.shared_anonymous_id,
                        "person_ids": list(h.device_person_ids),
                    }
                )
        self.over_messaged.extend(out.over_messaged)
        self.violations.extend(out.consent_violations)
        self.same_second.extend(out.same_second_consent)
        self.test_events += out.test_events
        self.store_phone_rows += out.store_phone_rows
        self.duplicate_contacts += out.duplicate_contacts
        self.churners += out.churners


class _Carry:
    """The last good event written: copied to the top of each new events file (cross-file duplicate)."""

    def __init__(self) -> None:
        self.row: tuple[str, str, str, str, int] | None = None  # line, rid, pid, file, row_number


def _write_source(
    spec: SourceSpec,
    src: RenderedSource,
    writer: RotatingWriter,
    truth: TruthWriter,
    planted: _Planted,
    carry: _Carry,
) -> None:
    """Write one chunk's lines in blocks that fit the open file, then record truth and bad rows."""
    lines, rids, pids, bad = src.lines, src.rids, src.pids, src.bad
    header = 1 if spec.is_csv else 0  # line_number counts the CSV header line, as the ingest's lineage does
    bad_list = planted.bad_rows[spec.name]
    is_events = spec is EVENTS
    blocks: list[tuple[int, int, str, int]] = []  # (start, end, file, first row number)
    i = 0
    while i < len(lines):
        if writer.room == 0:
            writer.open_next()
            if is_events and carry.row is not None and writer.files > 1:
                line, rid, pid, ofile, orow = carry.row
                file, row = writer.write_block([line])
                truth.records(spec.name, [rid], [pid])
                bad_list.append(
                    {
                        "file": file,
                        "row_number": row,
                        "line_number": row,
                        "kind": DUP_ACROSS_FILES,
                        "field": spec.id_field,
                        "detail": f"copy of messageId {rid}",
                        "source_record_id": rid,
                        "duplicate_of": {"file": ofile, "row_number": orow},
                    }
                )
        j = min(len(lines), i + writer.room)
        file, first = writer.write_block(lines[i:j])
        blocks.append((i, j, file, first))
        if is_events:
            k = j - 1
            while k >= i and k in bad:
                k -= 1
            if k >= i:
                carry.row = (lines[k], rids[k] or "", pids[k], file, first + k - i)
        i = j

    def loc(index: int) -> tuple[str, int]:
        for start, end, file, first in blocks:
            if start <= index < end:
                return file, first + index - start
        raise IndexError(index)

    for index in sorted(bad):
        kind, field, detail, orig = bad[index]
        file, row = loc(index)
        if rids[index] is None:
            rids[index] = f"{file}:{row}"
        entry: dict[str, Any] = {
            "file": file,
            "row_number": row,
            "line_number": row + header,
            "kind": kind,
            "field": field,
            "detail": detail,
            "source_record_id": rids[index],
        }
        if orig >= 0:
            ofile, orow = loc(orig)
            entry["kind"] = DUP_IN_FILE if ofile == file else DUP_ACROSS_FILES
            entry["duplicate_of"] = {"file": ofile, "row_number": orow}
        bad_list.append(entry)
    truth.records(spec.name, rids, pids)  # type: ignore[arg-type]  # None ids were replaced above


def _clean(out_dir: Path) -> None:
    """Remove part files and truth from an earlier run so stale files never mix with new ones."""
    for spec in SOURCES:
        folder = out_dir / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        for old in sorted(folder.glob("part-*")):
            old.unlink()
    truth = out_dir / TRUTH_DIR
    for name in ("record_truth.csv.gz", "persons.csv.gz", "planted.json"):
        (truth / name).unlink(missing_ok=True)


def _chunks(customers: int, chunk_size: int) -> list[tuple[int, int, int]]:
    return [(i, first, min(chunk_size, customers - first)) for i, first in enumerate(range(0, customers, chunk_size))]


def _rendered(args: tuple[Any, ...], chunks: list[tuple[int, int, int]], workers: int) -> Iterator[RenderedChunk]:
    """Rendered chunks in index order; with workers > 1, at most ``workers`` are in flight.

    Chunks are pure functions of (args, index), so if the worker pool cannot run (e.g. spawn cannot
    re-import an interactive ``__main__``), the remaining chunks are rendered here with the same result.
    """
    todo = deque(chunks)
    if workers > 1 and len(chunks) >= 3:
        # spawn, not fork: safe in threaded callers (Dagster, web servers)
        ctx = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(args,)) as ex:
                pending: deque[tuple[tuple[int, int, int], Future[RenderedChunk]]] = deque()
                while todo or pending:
                    while todo and len(pending) < workers:
                        task = todo.popleft()
                        pending.append((task, ex.submit(render_task, *task)))
                    task, future = pending[0]
                    result = future.result()
                    pending.popleft()
                    yield result
        except BrokenProcessPool:
            log.warning("worker processes failed to start; rendering the remaining chunks in-process")
            todo.extendleft(reversed([task for task, _ in pending]))
    cfg = make_config(*args)
    for index, first, count in todo:
        yield render_chunk(cfg, index, first, count)


def generate(
    out_dir: Path,
    customers: int,
    seed: int = 42,
    *,
    default_region: str = "VN",
    start: datetime | None = None,
    days: int = 365,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rows_per_file: int = ROWS_PER_FILE,
    workers: int | None = None,
) -> GenerationSummary:
    """Write the synthetic landing zone for ``customers`` persons under ``out_dir``.

    Deterministic: the same arguments give byte-identical files, whatever ``workers`` is.
    ``progress(n)`` is called after each chunk is written with the number of customers in it.
    ``chunk_size`` and ``rows_per_file`` change the output (chunks are seeded separately); keep them
    fixed for a dataset. ``workers``: rendering processes; None picks up to 4 (by CPU count) once there
    are 8+ chunks, 1 renders in-process. Workers are spawned, so a calling script needs the usual
    ``if __name__ == "__main__":`` guard (without one, generation falls back to in-process).
    """
    if customers < 1:
        raise ValueError("customers must be >= 1")
    if days < 1:
        raise ValueError("days must be >= 1")
    if chunk_size < 1 or rows_per_file < 1:
        raise ValueError("chunk_size and rows_per_file must be >= 1")
    home = default_region.upper()
    if home not in COUNTRIES:
        raise ValueError(f"default_region must be one of {sorted(COUNTRIES)}, got {default_region!r}")
    chunks = _chunks(customers, chunk_size)
    if workers is None:  # processes pay off from a few chunks on (each worker starts in ~1-2 s)
        workers = min(MAX_AUTO_WORKERS, os.cpu_count() or 1) if len(chunks) >= AUTO_WORKERS_MIN_CHUNKS else 1
    out_dir = Path(out_dir)
    args = (seed, customers, home, to_ms(start or DEFAULT_START), days, chunk_size, rows_per_file)
    cfg = make_config(*args)
    _clean(out_dir)
    writers = {s.name: RotatingWriter(out_dir, s, rows_per_file) for s in SOURCES}
    truth_dir = out_dir / TRUTH_DIR
    truth = TruthWriter(truth_dir)
    planted = _Planted()
    owed = {s.name: set(KINDS[s.name]) if customers >= GUARANTEE_MIN_CUSTOMERS else set() for s in SOURCES}
    carry = _Carry()
    try:
        for out in _rendered(args, chunks, workers):
            for spec in SOURCES:
                src = out.sources[spec.name]
                rng = stream(seed, "corrupt", out.index, spec.name)
                owed[spec.name] -= plant_bad_rows(spec, src, rng, owed[spec.name])
                _write_source(spec, src, writers[spec.name], truth, planted, carry)
            truth.persons(out.persons_csv)
            planted.add_chunk(out)
            if progress is not None:
                progress(out.count)
    finally:
        for w in writers.values():
            w.close()
    files = {s.name: writers[s.name].files for s in SOURCES}
    rows_written = {s.name: writers[s.name].rows for s in SOURCES}
    bad_counts = {s.name: len(planted.bad_rows[s.name]) for s in SOURCES}
    truth.close(_planted_json(cfg, planted, files, rows_written, bad_counts))
    return GenerationSummary(
        out_dir=out_dir,
        customers=customers,
        seed=seed,
        files=files,
        rows=rows_written,
        planted_bad_rows=bad_counts,
        truth_dir=truth_dir,
    )


def _planted_json(
    cfg: Any, planted: _Planted, files: dict[str, int], rows: dict[str, int], bad: dict[str, int]
) -> dict[str, Any]:
    store_id = STORE_PHONE_REUSE_STORE.get(cfg.home)
    store = next((s for s in cfg.reference.stores if s.store_id == store_id), None)
    return {
        "generator": {
            "seed": cfg.seed,
            "customers": cfg.customers,
            "default_region": cfg.home,
            "start": iso_z(cfg.start_ms),
            "days": cfg.days,
            "chunk_size": cfg.chunk_size,
            "rows_per_file": cfg.rows_per_file,
        },
        "files": files,
        "rows": rows,
        "planted_bad_rows": bad,
        "survey_drivers": {
            "formula": (
                "score = round(base + delay_days*delay_days + not_fcr*not_fcr + wait_minutes*wait_minutes"
                " + N(0, noise_sd)), clipped to [min, max]"
            ),
            "features": {
                "delay_days": "max(0, delivered_at - promised_delivery_at) in days, of the response's "
                "order_id (0 if no order or not delivered)",
                "not_fcr": "1 if the response's ticket_id has contact_count > 1 else 0 (0 without a ticket)",
                "wait_minutes": "first_response_at - opened_at of the response's ticket_id in minutes "
                "(0 without a ticket)",
            },
            "models": MODELS,
        },
        "churn": {
            "count": planted.churners,
            "rule": "no orders or POS transactions after persons.csv.gz churned_at; churners are "
            "'frequent' or 'regular' customers; browsing mostly stops too, marketing messages continue",
            "person_ids": "persons.csv.gz rows with a churned_at value",
        },
        "segments": {
            "frequent": "2 + Poisson(3) purchases over the period",
            "regular": "1 + Poisson(1.2) purchases (at least 2 for churners)",
            "one_off": "exactly 1 purchase",
            "browser": "browses only, never buys",
        },
        "over_messaged": {
            "campaign_id": cfg.reference.daily_campaign_id,
            "rule": "one marketing message every day for 30-120 days on one channel",
            "persons": planted.over_messaged,
        },
        "consent_violations": {
            "rule": "marketing e-mails in messages_sent after the person's marketing/email withdrawal",
            "persons": planted.violations,
        },
        "same_second_consent": {
            "rule": "granted and withdrawn within the same second (withdrawal never earlier); final state withdrawn",
            "persons": planted.same_second,
        },
        "shared_emails": planted.shared_emails,
        "shared_devices": planted.shared_devices,
        "households": planted.households,
        "store_phone": {
            "store_id": store.store_id if store else None,
            "phone": store.phone_national if store else None,
            "rows": planted.store_phone_rows,
            "rule": "pos_transactions rows where the cashier typed the store's own number (no loyalty card, "
            "customer gave no phone); truth person is the actual buyer",
        },
        "test_account": {
            "email": TEST_EMAIL,
            "user_id": TEST_CUSTOMER_REF,
            "person_id": TEST_PERSON_ID,
            "events": planted.test_events,
        },
        "duplicate_crm_contacts": planted.duplicate_contacts,
        "bad_row_kinds": {
            name: [k for k in kinds if k != DUPLICATE] + ([DUP_IN_FILE, DUP_ACROSS_FILES] if DUPLICATE in kinds else [])
            for name, kinds in KINDS.items()
        },
        "bad_rows": planted.bad_rows,
    }


def generated_period_end(out_dir: Path) -> datetime | None:
    """The end of the period a generated landing zone covers (from its generator settings), or None when the
    folder was not written by the generator. Demos compute traits as of this time."""
    planted = out_dir / TRUTH_DIR / "planted.json"
    if not planted.is_file():
        return None
    generator = json.loads(planted.read_text(encoding="utf-8"))["generator"]
    start = datetime.fromisoformat(generator["start"].replace("Z", "+00:00"))
    return start + timedelta(days=generator["days"])
