"""Erasure (`cdp erase`): remove one person from the whole lake, its old file versions, the file exports and the
Postgres CRM destination; keep a hashed suppression entry and a receipt without personal data.

1. Resolve the email, phone or customer id to the customer id(s) through the identity map, then to every source
   record of the person and every identifier value seen on them (raw and normalised).
2. In every Delta table, delete the rows that name the person: a ``customer_id`` (or any ``*customer_id`` /
   ``*_key`` column) of theirs, a source record of theirs (the contract's record id in bronze), or any string
   column containing one of their identifier values (quarantine keeps raw text).
3. Remove every old version of every table: VACUUM with retention 0 (enforce-retention off) and the transaction log
   truncated at a fresh checkpoint. **Trade-off**: time travel to any version before the erasure is lost for every
   table (a person's rows live in old versions of tables rewritten by every build, so a per-table choice cannot be
   proven complete), and a reader holding an old snapshot open while the erasure runs can fail. Run erasures in a
   batch window.
4. Rewrite the file-drop exports and dead letters without the person; delete their rows from the CRM table and send
   removals to webhook destinations (both before anything in the lake); delete dbt's working DuckDB database
   (rebuilt by the next `cdp build`).
5. Append SHA-256 hashes of the normalised identifiers to ``audit.suppression_list`` and a receipt to
   ``audit.erasure_receipts`` (hashes, tables and versions touched, row counts; no personal data).

Webhook destinations get a removal for every audience they hold the person in (from the deliveries log). Not done
here (see the README): the bronze ingest does not read the suppression list yet, the Feast online store is not
told, and the landing zone (outside the lake) keeps the source files.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from cdp import lake as layout
from cdp.lake import Lake, Layer, Table
from ingest.contracts import SOURCES

RECEIPT_SCHEMA = pa.schema(
    [
        ("erasure_id", pa.string()),
        ("requested_at", pa.timestamp("us", tz="UTC")),
        ("run_by", pa.string()),
        ("lookup", pa.string()),  # email, phone or customer_id (the kind, not the value)
        ("identifier_hashes", pa.list_(pa.string())),
        ("customer_id_hashes", pa.list_(pa.string())),
        ("tables_json", pa.string()),  # [{table, rows_deleted, version_before, version_after, files_vacuumed}]
        ("rows_deleted", pa.int64()),
        ("files_vacuumed", pa.int64()),
        ("export_files_rewritten", pa.int64()),
        ("crm_rows_deleted", pa.int64()),
        ("webhook_removals_sent", pa.int64()),
    ]
)
SUPPRESSION_SCHEMA = pa.schema(
    [("identifier_hash", pa.string()), ("id_type", pa.string()), ("erasure_id", pa.string()),
     ("added_at", pa.timestamp("us", tz="UTC"))]
)  # fmt: skip
_NOT_DATA = {layout.ERASURE_RECEIPTS, layout.SUPPRESSION_LIST}


class NothingToErase(LookupError):
    """The identifier names nobody in the lake (or was erased already); nothing was deleted."""


@dataclass
class Person:
    customer_ids: set[str]
    record_ids: dict[str, set[str]]  # source -> source_record_id
    record_keys: set[str]
    values: set[str]  # identifier values as seen (raw and normalised), lower-cased
    hashes: dict[str, str]  # sha256 -> id_type, of the normalised identifiers


@dataclass
class ErasureReceipt:
    erasure_id: str
    tables: list[dict[str, Any]] = field(default_factory=list)
    rows_deleted: int = 0
    files_vacuumed: int = 0
    export_files_rewritten: int = 0
    crm_rows_deleted: int = 0
    webhook_removals_sent: int = 0


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _read(lake: Lake, table: Table, columns: list[str] | None = None) -> pa.Table:
    return DeltaTable(lake.uri(table)).to_pyarrow_table(columns=columns)


def resolve(lake: Lake, *, customer_id: str | None = None, value: str | None = None, id_type: str = "") -> Person:
    """The person behind a customer id or a normalised identifier value (email or E.164 phone)."""
    if not lake.exists(layout.IDENTITY_MAP):
        raise NothingToErase(f"no identity map in {lake.root}: nothing to erase")
    identity = _read(lake, layout.IDENTITY_MAP, ["customer_id", "source", "source_record_id"])
    identifiers = (
        _read(lake, layout.IDENTITY_IDENTIFIERS, ["record_key", "source", "source_record_id", "id_type", "raw_value",
                                                  "value"])
        if lake.exists(layout.IDENTITY_IDENTIFIERS) else None
    )  # fmt: skip
    if customer_id is not None:
        ids = {customer_id}
    else:
        assert identifiers is not None and value is not None
        hits = identifiers.filter(pc.and_(pc.equal(identifiers["id_type"], id_type), pc.equal(identifiers["value"],
                                                                                               value)))  # fmt: skip
        keys = set(zip(hits["source"].to_pylist(), hits["source_record_id"].to_pylist(), strict=True))
        ids = {
            c
            for c, s, r in zip(*(identity[n].to_pylist() for n in ("customer_id", "source", "source_record_id")),
                               strict=True)
            if (s, r) in keys
        }  # fmt: skip
    mine = identity.filter(pc.is_in(identity["customer_id"], pa.array(sorted(ids), pa.string())))
    if mine.num_rows == 0:
        raise NothingToErase(f"no customer in the lake holds that {id_type or 'customer id'}: nothing deleted")
    records: dict[str, set[str]] = {}
    for s, r in zip(mine["source"].to_pylist(), mine["source_record_id"].to_pylist(), strict=True):
        records.setdefault(s, set()).add(r)
    values: set[str] = set()
    record_keys: set[str] = set()
    hashes: dict[str, str] = {}
    if identifiers is not None:
        pairs = {(s, r) for s, rs in records.items() for r in rs}
        for row in identifiers.to_pylist():
            if (row["source"], row["source_record_id"]) in pairs:
                record_keys.add(row["record_key"])
                for v in (row["raw_value"], row["value"]):
                    if v and len(v.strip()) >= 5:  # a value this short would match unrelated text
                        values.add(v.strip().lower())
                if row["value"] and row["id_type"] in ("email", "phone"):
                    hashes[sha256(row["value"])] = row["id_type"]
    if value is not None:
        values.add(value.lower())
        hashes[sha256(value)] = id_type
    return Person(ids, records, record_keys, values, hashes)


def _sql_list(values: set[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def _predicate(table: Table, schema: pa.Schema, person: Person) -> str | None:
    """A DataFusion SQL predicate selecting the person's rows in ``table`` (None when no column can name them)."""
    terms: list[str] = []
    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    ids = person.customer_ids | person.record_keys
    for name in strings:
        column = f'"{name}"'
        if name.endswith("customer_id") or name.endswith("_key"):
            terms.append(f"{column} in ({_sql_list(ids)})")
        for value in sorted(person.values):
            escaped = value.replace("'", "''")
            terms.append(f"strpos(lower({column}), '{escaped}') > 0")
    if table.layer in (Layer.BRONZE, Layer.QUARANTINE) and table.name in SOURCES:
        record_id = SOURCES[table.name].record_id
        mine = person.record_ids.get(table.name, set())
        if mine and record_id in schema.names:
            terms.append(f'"{record_id}" in ({_sql_list(mine)})')
    return " or ".join(terms) if terms else None


def _purge_history(dt: DeltaTable) -> int:
    """Remove every old file version and truncate the log at a fresh checkpoint; returns files vacuumed."""
    removed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    dt.alter.set_table_properties(
        {"delta.logRetentionDuration": "interval 0 seconds", "delta.deletedFileRetentionDuration": "interval 0 seconds"}
    )
    dt.create_checkpoint()
    dt.cleanup_metadata()
    return len(removed)


def erase(
    lake: Lake,
    person: Person,
    *,
    lookup: str,
    crm: Any | None = None,  # an activation.destinations.PostgresTable, or None
    webhooks: list[Any] | None = None,  # activation.destinations.Webhook destinations to send removals to
    run_by: str | None = None,
) -> ErasureReceipt:
    receipt = ErasureReceipt(f"erasure-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    if crm is not None:  # first: a CRM that cannot be reached stops the erasure before anything irreversible
        receipt.crm_rows_deleted = crm.delete_customers(sorted(person.customer_ids))
        crm.close()
    for webhook in webhooks or []:  # before the deliveries log that says what they hold is deleted
        receipt.webhook_removals_sent += _tell_webhook(lake, webhook, person)
    for table in lake.tables():
        if table in _NOT_DATA:
            continue
        dt = DeltaTable(lake.uri(table))
        before = dt.version()
        predicate = _predicate(table, pa.schema(dt.schema().to_arrow()), person)
        deleted = 0
        if predicate is not None:
            metrics = dt.delete(predicate)
            deleted = int(metrics.get("num_deleted_rows", 0) or 0)
        vacuumed = _purge_history(DeltaTable(lake.uri(table)))
        after = DeltaTable(lake.uri(table)).version()
        receipt.tables.append(
            {"table": str(table), "rows_deleted": deleted, "version_before": before, "version_after": after,
             "files_vacuumed": vacuumed}
        )  # fmt: skip
        receipt.rows_deleted += deleted
        receipt.files_vacuumed += vacuumed
    receipt.export_files_rewritten = _scrub_exports(lake.exports_dir(), person)
    shutil.rmtree(lake.marts_dir(), ignore_errors=True)  # dbt's DuckDB copy of the marts; rebuilt by `cdp build`
    shutil.rmtree(lake.root / "_staging", ignore_errors=True)
    _write_receipt(lake, receipt, person, lookup, run_by or getpass.getuser())
    return receipt


def _tell_webhook(lake: Lake, webhook: Any, person: Person) -> int:
    """Send a removal for every audience the webhook holds the person in (from the deliveries log)."""
    from activation.destinations import Batch, batch_key

    if not lake.exists(layout.ACTIVATION_DELIVERIES):
        return 0
    columns = ["audience_name", "destination", "customer_id", "op", "delivered_at"]
    log = _read(lake, layout.ACTIVATION_DELIVERIES, columns)
    ids = pa.array(sorted(person.customer_ids), pa.string())
    mine = log.filter(pc.and_(pc.equal(log["destination"], webhook.name), pc.is_in(log["customer_id"], ids)))
    latest: dict[tuple[str, str], tuple[Any, str]] = {}
    for row in mine.to_pylist():
        key = (row["audience_name"], row["customer_id"])
        if key not in latest or row["delivered_at"] >= latest[key][0]:
            latest[key] = (row["delivered_at"], row["op"])
    held: dict[str, list[str]] = {}
    for (audience, customer_id), (_, op) in sorted(latest.items()):
        if op == "upsert":
            held.setdefault(audience, []).append(customer_id)
    for audience, members in held.items():
        batch = batch_key(audience, webhook.name, "remove", members, [""] * len(members))
        rows = pa.table({"customer_id": pa.array(members, pa.string())})
        webhook.deliver(Batch(batch, audience, "remove", rows, "erasure"))
    return sum(len(members) for members in held.values())


def _scrub_exports(folder: Path, person: Person) -> int:
    """Rewrite every exported file and dead letter that holds the person, without them."""
    if not folder.is_dir():
        return 0
    rewritten = 0
    ids = pa.array(sorted(person.customer_ids), pa.string())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".csv":
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(column_types={"customer_id": pa.string()})
            )
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
        elif path.suffix == ".json":
            letter = json.loads(path.read_text())
            kept = [r for r in letter.get("rows", []) if r.get("customer_id") not in person.customer_ids]
            if len(kept) != len(letter.get("rows", [])):
                letter["rows"] = kept
                path.write_text(json.dumps(letter))
                rewritten += 1
            continue
        else:
            continue
        if "customer_id" not in table.column_names:
            continue
        keep = pc.invert(pc.is_in(table["customer_id"], ids))
        if pc.all(keep).as_py():
            continue
        kept_table = table.filter(keep)
        if path.suffix == ".csv":
            pacsv.write_csv(kept_table, path)
        else:
            pq.write_table(kept_table, path)
        rewritten += 1
    return rewritten


def _write_receipt(lake: Lake, receipt: ErasureReceipt, person: Person, lookup: str, run_by: str) -> None:
    now = datetime.now(UTC)
    row = {
        "erasure_id": receipt.erasure_id,
        "requested_at": now,
        "run_by": run_by,
        "lookup": lookup,
        "identifier_hashes": sorted(person.hashes),
        "customer_id_hashes": sorted(sha256(c) for c in person.customer_ids),
        "tables_json": json.dumps(receipt.tables),
        "rows_deleted": receipt.rows_deleted,
        "files_vacuumed": receipt.files_vacuumed,
        "export_files_rewritten": receipt.export_files_rewritten,
        "crm_rows_deleted": receipt.crm_rows_deleted,
        "webhook_removals_sent": receipt.webhook_removals_sent,
    }
    write_deltalake(
        lake.uri(layout.ERASURE_RECEIPTS), pa.Table.from_pylist([row], schema=RECEIPT_SCHEMA), mode="append"
    )
    suppression = [
        {"identifier_hash": h, "id_type": t, "erasure_id": receipt.erasure_id, "added_at": now}
        for h, t in sorted(person.hashes.items())
    ] + [
        {"identifier_hash": sha256(c), "id_type": "customer_id", "erasure_id": receipt.erasure_id, "added_at": now}
        for c in sorted(person.customer_ids)
    ]
    write_deltalake(lake.uri(layout.SUPPRESSION_LIST), pa.Table.from_pylist(suppression, schema=SUPPRESSION_SCHEMA),
                    mode="append")  # fmt: skip


def already_erased(lake: Lake, value: str) -> str | None:
    """The erasure id that suppressed this normalised identifier or customer id, if any."""
    if not lake.exists(layout.SUPPRESSION_LIST):
        return None
    table = _read(lake, layout.SUPPRESSION_LIST, ["identifier_hash", "erasure_id"])
    hits = table.filter(pc.equal(table["identifier_hash"], sha256(value)))
    return str(hits["erasure_id"][0]) if hits.num_rows else None
