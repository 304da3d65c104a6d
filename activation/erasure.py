"""Erasure (`cdp erase`): remove one person from the whole lake, its old file versions, the file exports, the
Postgres CRM destination and the Feast online store; keep a hashed suppression entry and a receipt without
personal data.

1. Resolve the email, phone or customer id to the customer id(s) through the identity map, then to every source
   record of the person and every identifier value seen on them (raw and normalised). An email or phone held by
   several customers (a family address) is refused (:class:`SharedIdentifier`) unless the caller names one customer
   or asks for all of them (``all_matching``); identifier values the person shares with customers who stay are kept
   for those (not searched for in text, not suppressed).
2. In every Delta table, delete the rows that name the person: a ``customer_id`` (or any ``*customer_id`` /
   ``*_key`` column) of theirs, a source record of theirs (the contract's record id in bronze), or any string
   column containing one of their identifier values (quarantine keeps raw text). A table with deletion vectors is
   then rewritten without its masked rows (older rows of the person that an incremental identity run replaced).
3. Remove every old version of every table: VACUUM with retention 0 (enforce-retention off) and the transaction log
   truncated at a fresh checkpoint. **Trade-off**: time travel to any version before the erasure is lost for every
   table (a person's rows live in old versions of tables rewritten by every build, so a per-table choice cannot be
   proven complete), and a reader holding an old snapshot open while the erasure runs can fail. Run erasures in a
   batch window.
4. Before anything in the lake: delete their rows from the CRM table, send removals to webhook destinations that hold
   them (from the deliveries log), and delete them from the online store (``Features.forget``: Redis hashes, or
   SQLite rows with their free pages overwritten); a feature repo never applied there holds nothing and the receipt
   says so (null count). Then rewrite the file-drop exports and dead letters without the person and delete dbt's
   working DuckDB database (rebuilt by the next `cdp build`).
5. Append SHA-256 hashes of the normalised identifiers (``ingest.suppression.identifier_hash``: the ingest hashes
   the same way and drops a re-sent record of the person, counted as ``suppressed``) to ``audit.suppression_list``
   and a receipt to ``audit.erasure_receipts`` (hashes, tables and versions touched, row counts; no personal data).

Not done here (see the README): the landing zone (outside the lake) keeps the source files, and Redis persistence
files (RDB/AOF) keep deleted keys until Redis rewrites them.
"""

from __future__ import annotations

import getpass
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
from cdp.maintenance import purge_deletion_vectors, read_arrow
from ingest.contracts import SOURCES
from ingest.suppression import SUPPRESSED_TYPES, identifier_hash

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
        ("online_store_rows_deleted", pa.int64()),  # null: no online store told (none given, or never applied)
    ]
)
SUPPRESSION_SCHEMA = pa.schema(
    [("identifier_hash", pa.string()), ("id_type", pa.string()), ("erasure_id", pa.string()),
     ("added_at", pa.timestamp("us", tz="UTC"))]
)  # fmt: skip
_NOT_DATA = {layout.ERASURE_RECEIPTS, layout.SUPPRESSION_LIST}


class NothingToErase(LookupError):
    """The identifier names nobody in the lake (or was erased already); nothing was deleted."""


class SharedIdentifier(LookupError):
    """The email or phone is held by more than one customer (a family email, a shared phone); nothing deleted."""

    def __init__(self, lookup: str, customer_ids: set[str]) -> None:
        self.customer_ids = customer_ids
        super().__init__(
            f"that {lookup} belongs to {len(customer_ids)} customers ({', '.join(sorted(customer_ids))}), e.g. a "
            "shared family address; nothing deleted. Erase one person with --customer-id, or every customer "
            "holding it with --all-matching"
        )


@dataclass
class Person:
    customer_ids: set[str]
    record_ids: dict[str, set[str]]  # source -> source_record_id
    record_keys: set[str]
    values: set[str]  # identifier values as seen (raw and normalised), lower-cased
    hashes: dict[str, str]  # sha256 -> id_type, of the normalised identifiers
    shared_values: int = 0  # identifier values also held by other customers: kept (they are not only this person's)


@dataclass
class ErasureReceipt:
    erasure_id: str
    tables: list[dict[str, Any]] = field(default_factory=list)
    rows_deleted: int = 0
    files_vacuumed: int = 0
    export_files_rewritten: int = 0
    crm_rows_deleted: int = 0
    webhook_removals_sent: int = 0
    online_store_rows_deleted: int | None = None  # None: no online store given, or its feature repo never applied


def _read(lake: Lake, table: Table, columns: list[str] | None = None) -> pa.Table:
    return read_arrow(lake.uri(table), columns)


def resolve(
    lake: Lake,
    *,
    customer_id: str | None = None,
    value: str | None = None,
    id_type: str = "",
    all_matching: bool = False,
) -> Person:
    """The person behind a customer id or a normalised identifier value (email or E.164 phone).

    A value held by several customers raises :class:`SharedIdentifier` unless ``all_matching`` (then all of them
    are one erasure). Identifier values the person shares with customers not erased (a family email on a sibling's
    record) are neither searched for in text columns nor suppressed: that would delete or block the others."""
    if not lake.exists(layout.IDENTITY_MAP):
        raise NothingToErase(f"no identity map in {lake.root}: nothing to erase")
    identity = _read(lake, layout.IDENTITY_MAP, ["customer_id", "source", "source_record_id"])
    identifiers = None
    if lake.exists(layout.IDENTITY_IDENTIFIERS):
        identifiers = _read(lake, layout.IDENTITY_IDENTIFIERS,
                            ["record_key", "source", "source_record_id", "id_type", "raw_value", "value"])  # fmt: skip
        # Each identifier row with the customer its record belongs to (null: a record no customer holds).
        identifiers = identifiers.join(identity, ["source", "source_record_id"], join_type="left outer")
    if customer_id is not None:
        ids = {customer_id}
    else:
        assert identifiers is not None and value is not None
        hits = identifiers.filter(pc.and_(pc.equal(identifiers["id_type"], id_type), pc.equal(identifiers["value"],
                                                                                               value)))  # fmt: skip
        ids = {c for c in hits["customer_id"].to_pylist() if c is not None}
        if len(ids) > 1 and not all_matching:
            raise SharedIdentifier(id_type, ids)
    id_array = pa.array(sorted(ids), pa.string())
    mine = identity.filter(pc.is_in(identity["customer_id"], id_array))
    if mine.num_rows == 0:
        raise NothingToErase(f"no customer in the lake holds that {id_type or 'customer id'}: nothing deleted")
    records: dict[str, set[str]] = {}
    for s, r in zip(mine["source"].to_pylist(), mine["source_record_id"].to_pylist(), strict=True):
        records.setdefault(s, set()).add(r)
    values: set[str] = set()
    record_keys: set[str] = set()
    hashes: dict[str, str] = {}
    shared = 0
    if identifiers is not None:
        is_mine = pc.fill_null(pc.is_in(identifiers["customer_id"], id_array), False)
        own = identifiers.filter(is_mine)
        # Values also on another customer's records (records of nobody do not count: they name no one else).
        others = identifiers.filter(pc.and_(pc.invert(is_mine), pc.is_valid(identifiers["customer_id"])))
        others = others.filter(pc.is_in(others["value"], own["value"].unique()))
        shared_values = {(t, v) for t, v in zip(others["id_type"].to_pylist(), others["value"].to_pylist(),
                                                strict=True)}  # fmt: skip
        shared_raw = {v.strip().lower() for v in others["raw_value"].to_pylist() if v} | {
            v.strip().lower() for _, v in shared_values if v
        }
        for row in own.to_pylist():
            record_keys.add(row["record_key"])
            if (row["id_type"], row["value"]) in shared_values:
                shared += 1
                continue
            for v in (row["raw_value"], row["value"]):
                # A value this short would match unrelated text; a shared one would delete the others' rows.
                if v and len(v.strip()) >= 5 and v.strip().lower() not in shared_raw:
                    values.add(v.strip().lower())
            if row["value"] and row["id_type"] in SUPPRESSED_TYPES:
                hashes[identifier_hash(row["value"])] = row["id_type"]
    if value is not None:
        values.add(value.lower())
        hashes[identifier_hash(value)] = id_type
    return Person(ids, records, record_keys, values, hashes, shared)


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
    online_store: Any | None = None,  # a feature_store.store.Features, or None
    run_by: str | None = None,
) -> ErasureReceipt:
    receipt = ErasureReceipt(f"erasure-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    if crm is not None:  # first: a CRM that cannot be reached stops the erasure before anything irreversible
        receipt.crm_rows_deleted = crm.delete_customers(sorted(person.customer_ids))
        crm.close()
    if online_store is not None:  # also before the lake: a Redis that cannot be reached stops it here
        receipt.online_store_rows_deleted = forget_online(online_store, person.customer_ids)
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
        # A deletion vector only masks rows: the person's rows an earlier MERGE replaced (their old identifiers)
        # are still in its file, where the delete above does not see them.
        purge_deletion_vectors(DeltaTable(lake.uri(table)))
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


def forget_online(features: Any, customer_ids: set[str]) -> int | None:
    """Delete the customers from the Feast online store; None when the feature repo was never applied there (no
    feature views: the store holds nothing, and nothing is created just to find that out)."""
    from feature_store.config import features_dir, registry_kind

    if registry_kind(features.settings) == "file" and not (features_dir(features.lake) / "registry.db").exists():
        return None
    features.store.refresh_registry()
    if not features.store.list_feature_views():
        return None
    return int(features.forget(sorted(customer_ids)))


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
        "customer_id_hashes": sorted(identifier_hash(c) for c in person.customer_ids),
        "tables_json": json.dumps(receipt.tables),
        "rows_deleted": receipt.rows_deleted,
        "files_vacuumed": receipt.files_vacuumed,
        "export_files_rewritten": receipt.export_files_rewritten,
        "crm_rows_deleted": receipt.crm_rows_deleted,
        "webhook_removals_sent": receipt.webhook_removals_sent,
        "online_store_rows_deleted": receipt.online_store_rows_deleted,
    }
    write_deltalake(  # merge: receipts written before a column was added stay readable
        lake.uri(layout.ERASURE_RECEIPTS),
        pa.Table.from_pylist([row], schema=RECEIPT_SCHEMA),
        mode="append",
        schema_mode="merge",
    )
    suppression = [
        {"identifier_hash": h, "id_type": t, "erasure_id": receipt.erasure_id, "added_at": now}
        for h, t in sorted(person.hashes.items())
    ] + [
        {
            "identifier_hash": identifier_hash(c),
            "id_type": "customer_id",
            "erasure_id": receipt.erasure_id,
            "added_at": now,
        }
        for c in sorted(person.customer_ids)
    ]
    write_deltalake(lake.uri(layout.SUPPRESSION_LIST), pa.Table.from_pylist(suppression, schema=SUPPRESSION_SCHEMA),
                    mode="append")  # fmt: skip


def already_erased(lake: Lake, value: str) -> str | None:
    """The erasure id that suppressed this normalised identifier or customer id, if any."""
    if not lake.exists(layout.SUPPRESSION_LIST):
        return None
    table = _read(lake, layout.SUPPRESSION_LIST, ["identifier_hash", "erasure_id"])
    hits = table.filter(pc.equal(table["identifier_hash"], identifier_hash(value)))
    return str(hits["erasure_id"][0]) if hits.num_rows else None
