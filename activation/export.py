"""One sync of an audience to a destination: decide, audit, plan by sync mode, deliver in batches, record.

Sync state is the deliveries log (``audit.activation_deliveries``): each delivered batch appends its people with
the operation and a hash of what was sent. What a destination holds is the latest operation per person, so

- ``upsert`` sends every person decided ``send`` (no removals);
- ``mirror`` sends every such person and a removal for everyone the destination holds who is no longer sent;
- ``diff`` sends only people who are new or whose data changed since the destination last got them, and removals.

A sync that fails part-way leaves its delivered batches in the log; the next sync skips people whose latest
delivery is from an unfinished sync with the same data, so nobody is sent twice. Batch keys are a hash of the
batch's content, so a destination that saw a batch already (webhook ``Idempotency-Key``, an existing file) ignores it.

The decisions are written before anything is sent: the audit shows what was intended even if the sync dies.
Logs carry counts and ids only, never an email, phone or name.
"""

from __future__ import annotations

import getpass
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from activation.decisions import DECISIONS_SCHEMA, SEND, decision_query
from activation.destinations import Batch, DeadLetter, Destination, batch_key
from activation.inputs import PAYLOAD_SCHEMA, load_inputs
from activation.rules import Rules
from cdp import lake as layout
from cdp.lake import Lake

log = logging.getLogger(__name__)
SyncMode = Literal["upsert", "mirror", "diff"]

DECISION_AUDIT_SCHEMA = pa.schema(
    [
        ("sync_id", pa.string()),
        ("customer_id", pa.string()),
        ("audience_name", pa.string()),
        ("destination", pa.string()),
        ("purpose", pa.string()),
        ("channel", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
        ("consent_id", pa.string()),
        ("consent_status", pa.string()),
        ("consent_at", pa.timestamp("us", tz="UTC")),
        ("cap_name", pa.string()),
        ("cap_count", pa.int64()),
        ("cap_limit", pa.int64()),
        ("better_audience", pa.string()),
        ("rule_version", pa.string()),
        ("send_time", pa.timestamp("us", tz="UTC")),
    ]
)
SYNC_SCHEMA = pa.schema(
    [
        ("sync_id", pa.string()),
        ("audience_name", pa.string()),
        ("destination", pa.string()),
        ("mode", pa.string()),
        ("status", pa.string()),  # started, completed, failed
        ("run_by", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("send_time", pa.timestamp("us", tz="UTC")),
        ("rule_version", pa.string()),
        ("members", pa.int64()),
        ("counts_json", pa.string()),  # decisions per reason
        ("upserts_sent", pa.int64()),
        ("removals_sent", pa.int64()),
        ("batches_sent", pa.int64()),
        ("batches_dead_lettered", pa.int64()),
        ("error", pa.string()),
    ]
)
UPSERT_SCHEMA = pa.schema([*PAYLOAD_SCHEMA, pa.field("row_hash", pa.string())])
DELIVERY_SCHEMA = pa.schema(
    [
        ("sync_id", pa.string()),
        ("audience_name", pa.string()),
        ("destination", pa.string()),
        ("purpose", pa.string()),
        ("channel", pa.string()),
        ("customer_id", pa.string()),
        ("op", pa.string()),
        ("row_hash", pa.string()),
        ("batch_key", pa.string()),
        ("delivered_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass
class SyncReport:
    sync_id: str
    audience: str
    destination: str
    mode: str
    dry_run: bool
    members: int
    counts: dict[str, int]  # per reason ("eligible" = sent)
    upserts: int = 0
    removals: int = 0
    batches: int = 0
    dead_lettered: int = 0
    status: str = "completed"
    dead_letter_files: list[Path] = field(default_factory=list)
    # wall time per stage: inputs (read), decide, audit (build the rows), plan (while the audit is written),
    # audit_wait (for the write after the plan), deliver (batches and the deliveries log); and the CPU time of every
    # thread of the process in each (the plan's includes the audit writer's)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def decisions(self) -> dict[str, int]:
        sent = self.counts.get("eligible", 0)
        return {"send": sent, "suppress": self.members - sent}


def _plan(
    con,  # type: ignore[no-untyped-def]
    audience: str,
    destination: str,
    mode: str,
    last_completed: datetime | None,
) -> tuple[pa.Table, pa.Table]:
    """(upserts, removals) for this sync from the people decided ``send`` (relation ``sending_ids``: customer_id),
    the members' identifiers and the deliveries log (see the module docstring), in one DuckDB pass over tables
    already in the connection.

    Upserts keep the payload columns plus ``row_hash``, in ``customer_id`` order (batch keys depend on it, so a
    resumed sync makes the same batches); removals are ``customer_id`` and an empty ``row_hash``, in the same order.
    """
    # What the destination holds: the latest delivery per person, a removal winning a same-instant tie (the window
    # this replaced ordered by op, and 'remove' < 'upsert'). arg_max is a hash aggregate: no sort of the log.
    con.execute(
        "create or replace temp table state as select customer_id, s.op, s.row_hash, s.delivered_at from ("
        "  select customer_id, arg_max({'op': op, 'row_hash': row_hash, 'delivered_at': delivered_at}, "
        "    coalesce(epoch_us(delivered_at) * 3 + case op when 'remove' then 2 when 'upsert' then 1 else 0 end, "
        "             -9223372036854775807)) s"
        "  from deliveries where audience_name = ? and destination = ? group by customer_id)",
        [audience, destination],
    )
    skip_held = "true" if mode == "diff" else "s.delivered_at > $last_completed" if last_completed else "true"
    upserts = con.execute(
        f"""
        with sending as (
            select d.customer_id, c.email, c.phone, c.first_name, c.last_name,
                   md5(concat_ws(chr(31), coalesce(c.email, ''), coalesce(c.phone, ''), coalesce(c.first_name, ''),
                                 coalesce(c.last_name, ''))) as row_hash
            from sending_ids d left join customers c using (customer_id)
        )
        select p.* from sending p left join state s
            on s.customer_id = p.customer_id and s.op = 'upsert' and s.row_hash = p.row_hash
        -- held unchanged: skipped in diff mode, and after an unfinished sync (resume without duplicates)
        where s.customer_id is null or not ({skip_held})
        """,
        {"last_completed": last_completed} if "$last_completed" in skip_held else {},
    ).to_arrow_table()
    if mode == "upsert":
        removals_sql = "select customer_id, '' as row_hash from state where false"
    else:
        removals_sql = (
            "select customer_id, '' as row_hash from state where op = 'upsert' "
            "and customer_id not in (select customer_id from sending_ids)"
        )
    removals = con.execute(removals_sql).to_arrow_table()
    return _by_customer(upserts).cast(UPSERT_SCHEMA), _by_customer(removals)


def _by_customer(rows: pa.Table) -> pa.Table:
    """``rows`` in ``customer_id`` order (byte order, as DuckDB's ``order by`` on a varchar). Sorted in Arrow: the
    ids are sorted and the other columns taken once, where DuckDB's ``order by`` moved every column through its sort
    (the plan's query for 527k people sent: 1.39 s of CPU with DuckDB's sort against 0.78 s, BENCHMARKS.md issue 7)."""
    return rows.take(pc.sort_indices(rows["customer_id"]))


def _last_completed(lake: Lake, audience: str, destination: str) -> datetime | None:
    """When the last completed sync of this audience to this destination was recorded."""
    if not lake.exists(layout.ACTIVATION_SYNCS):
        return None
    from deltalake import DeltaTable

    table = DeltaTable(lake.uri(layout.ACTIVATION_SYNCS)).to_pyarrow_table(
        columns=["audience_name", "destination", "status", "recorded_at"]
    )
    mask = pc.and_(
        pc.and_(pc.equal(table["audience_name"], audience), pc.equal(table["destination"], destination)),
        pc.equal(table["status"], "completed"),
    )
    value = pc.max(pc.filter(table, mask)["recorded_at"]).as_py()
    return value if isinstance(value, datetime) else None


def _append(lake: Lake, table: layout.Table, rows: pa.Table) -> None:
    write_deltalake(lake.uri(table), rows, mode="append")


def export_audience(
    lake: Lake,
    rules: Rules,
    audience_name: str,
    destination: Destination,
    *,
    mode: SyncMode = "mirror",
    send_time: datetime | None = None,
    dry_run: bool = False,
    run_by: str | None = None,
    batch_size: int | None = None,
) -> SyncReport:
    send_time = send_time or datetime.now(UTC)
    started = datetime.now(UTC)
    sync_id = f"sync-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    run_by = run_by or getpass.getuser()
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}
    wall_at, cpu_at = time.perf_counter(), time.process_time()

    def lap(stage: str) -> None:
        nonlocal wall_at, cpu_at
        seconds[stage], cpu_seconds[stage] = time.perf_counter() - wall_at, time.process_time() - cpu_at
        wall_at, cpu_at = time.perf_counter(), time.process_time()

    loaded = load_inputs(lake, rules, audience_name, send_time)
    audience, con = loaded.audience, loaded.con
    lap("inputs")
    # The decisions go to Arrow once, unsorted: the audit rows are made of them, the counts are counted there and the
    # plan reads the ids of the people sent from them. A DuckDB temp table of them cost its write plus a second
    # conversion to Arrow for the audit. Only what is sent is sorted.
    sql, params = decision_query(audience, rules, send_time, consent_in_force=loaded.consent_in_force)
    decided = con.execute(sql, params).to_arrow_table().select(DECISIONS_SCHEMA.names)
    counts = {str(v["values"]): int(v["counts"]) for v in pc.value_counts(decided["reason"]).to_pylist()}
    counts = dict(sorted(counts.items()))
    members = decided.num_rows
    lap("decide")
    report = SyncReport(sync_id, audience.name, destination.name, mode, dry_run, members, counts)
    report.seconds, report.cpu_seconds = seconds, cpu_seconds
    log.info("%s %s -> %s: %d members, %s", sync_id, audience.name, destination.name, members, counts)
    if dry_run:
        con.close()
        return report

    # Only the ids the plan needs go back to DuckDB (scanning all of the Arrow decisions there cost more than it saved).
    con.register("sending_ids", decided.filter(pc.equal(decided["decision"], SEND)).select(["customer_id"]))
    audit = _with_constants(  # each decision with the sync's constants
        decided,
        {"sync_id": sync_id, "audience_name": audience.name, "destination": destination.name,
         "purpose": audience.purpose, "channel": audience.channel, "rule_version": rules.version,
         "send_time": send_time},
        DECISION_AUDIT_SCHEMA,
    )  # fmt: skip
    # Read before the audit thread may create the syncs table (a half-created table cannot be opened).
    last_completed = _last_completed(lake, audience.name, destination.name)

    def write_audit(rows: pa.Table) -> None:
        _append(lake, layout.ACTIVATION_DECISIONS, rows)
        _record(lake, report, "started", send_time, rules.version, run_by)

    # The audit is written while DuckDB plans the sync (the Delta writer and DuckDB both release the GIL, and the
    # writer encodes on one core): nothing is delivered before the audit and the "started" record are committed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit") as pool:
        audit_written = pool.submit(write_audit, audit)
        del audit
        lap("audit")
        try:
            upserts, removals = _plan(con, audience.name, destination.name, mode, last_completed)
        finally:
            con.close()
            lap("plan")
            audit_written.result()  # re-raises a failed audit write: then nothing is sent
            lap("audit_wait")
    if not destination.supports_removals:
        removals = removals.slice(0, 0)

    batch_size = batch_size or destination.batch_size
    error: str | None = None
    try:
        for op, items in (("remove", removals), ("upsert", upserts)):
            for start in range(0, items.num_rows, batch_size):
                chunk = items.slice(start, batch_size)
                key = batch_key(audience.name, destination.name, op, chunk["customer_id"], chunk["row_hash"])
                rows = chunk.select(["customer_id"]) if op == "remove" else chunk.drop_columns(["row_hash"])
                batch = Batch(key, audience.name, op, rows, sync_id)  # type: ignore[arg-type]
                try:
                    destination.deliver(batch)
                except DeadLetter as exc:
                    report.dead_lettered += 1
                    report.dead_letter_files.append(_dead_letter(lake, destination.name, batch, str(exc)))
                    log.error("%s: batch %s dead-lettered: %s", sync_id, key[:12], exc)
                    continue
                _append(lake, layout.ACTIVATION_DELIVERIES, _deliveries(sync_id, audience, destination.name, op,
                                                                        chunk, key))  # fmt: skip
                report.batches += 1
                if op == "upsert":
                    report.upserts += chunk.num_rows
                else:
                    report.removals += chunk.num_rows
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        report.status = "failed"
        _record(lake, report, "failed", send_time, rules.version, run_by, error)
        raise
    finally:
        destination.close()
    lap("deliver")
    report.status = "completed" if report.dead_lettered == 0 else "failed"
    _record(lake, report, report.status, send_time, rules.version, run_by,
            f"{report.dead_lettered} batches dead-lettered" if report.dead_lettered else None)  # fmt: skip
    log.info(
        "%s %s: %d upserts, %d removals in %d batches, %d dead-lettered",
        sync_id,
        report.status,
        report.upserts,
        report.removals,
        report.batches,
        report.dead_lettered,
    )
    return report


def _deliveries(sync_id: str, audience, destination: str, op: str, chunk: pa.Table, key: str) -> pa.Table:  # type: ignore[no-untyped-def]
    constants = {
        "sync_id": sync_id,
        "audience_name": audience.name,
        "destination": destination,
        "purpose": audience.purpose,
        "channel": audience.channel,
        "op": op,
        "batch_key": key,
        "delivered_at": datetime.now(UTC),
    }
    return _with_constants(chunk, constants, DELIVERY_SCHEMA)


def _with_constants(rows: pa.Table, constants: dict[str, object], schema: pa.Schema) -> pa.Table:
    """``schema``'s columns: a constant repeated for every row where ``constants`` has one, else ``rows``' column.
    Repeated in Arrow: DuckDB's conversion of six constant string columns cost about 0.2 s of CPU at 1M members,
    near half of the audit rows' conversion."""
    n = rows.num_rows
    columns = {
        f.name: pa.repeat(pa.scalar(constants[f.name], f.type), n) if f.name in constants else rows[f.name]
        for f in schema
    }
    return pa.table(columns).cast(schema)


def _record(
    lake: Lake,
    report: SyncReport,
    status: str,
    send_time: datetime,
    rule_version: str,
    run_by: str,
    error: str | None = None,
) -> None:
    row = {
        "sync_id": report.sync_id,
        "audience_name": report.audience,
        "destination": report.destination,
        "mode": report.mode,
        "status": status,
        "run_by": run_by,
        "recorded_at": datetime.now(UTC),
        "send_time": send_time,
        "rule_version": rule_version,
        "members": report.members,
        "counts_json": json.dumps(report.counts, sort_keys=True),
        "upserts_sent": report.upserts,
        "removals_sent": report.removals,
        "batches_sent": report.batches,
        "batches_dead_lettered": report.dead_lettered,
        "error": error,
    }
    _append(lake, layout.ACTIVATION_SYNCS, pa.Table.from_pylist([row], schema=SYNC_SCHEMA))


def _dead_letter(lake: Lake, destination: str, batch: Batch, error: str) -> Path:
    """The batch as it would have been sent, for inspection; the next sync retries its people (not delivered)."""
    folder = lake.exports_dir() / "_dead_letter" / destination
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch.sync_id}-{batch.key[:16]}.json"
    path.write_text(
        json.dumps({"audience": batch.audience, "op": batch.op, "key": batch.key, "error": error, "rows": batch.rows})
    )
    return path
