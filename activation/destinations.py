"""Destinations behind one small interface: ``deliver(batch)`` either succeeds, or raises.

- :class:`FileDrop`: one CSV or Parquet file per batch; identifiers optionally SHA-256 hashed after normalisation
  (lower-cased trimmed email, E.164 phone), as ad platforms require. A file already written for a batch key is not
  written again.
- :class:`Webhook`: JSON batches POSTed with an ``Idempotency-Key`` header; retries with exponential backoff
  (tenacity), ``Retry-After`` honoured on 429; after ``max_attempts`` the batch raises :class:`DeadLetter`.
- :class:`PostgresTable`: upsert (``INSERT ... ON CONFLICT``) and delete of ``(audience_name, customer_id)`` rows;
  a dropped connection (Postgres restarted) reconnects and retries the batch's transaction.

A batch carries no more personal data than the destination needs; logs never carry any.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_exponential

from activation.rules import DestinationConfig, FileDestination, PostgresDestination, WebhookDestination

log = logging.getLogger(__name__)
Op = Literal["upsert", "remove"]


@dataclass(frozen=True)
class Batch:
    key: str  # idempotency key: the same batch content always has the same key
    audience: str
    op: Op
    table: pa.Table  # upsert: customer_id, email, phone, first_name, last_name; remove: customer_id
    sync_id: str = ""

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()


class DeliveryError(RuntimeError):
    """The destination refused the batch; ``retryable`` says whether a later sync should try again."""


class DeadLetter(DeliveryError):
    """Retries exhausted (or a permanent refusal): the batch is set aside and retried by the next sync."""


class Destination(Protocol):
    name: str
    supports_removals: bool
    batch_size: int  # people per batch (one file, one HTTP request, one transaction)

    def deliver(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


def batch_key(
    audience: str,
    destination: str,
    op: str,
    customer_ids: list[str] | pa.ChunkedArray,
    row_hashes: list[str] | pa.ChunkedArray,
) -> str:
    """SHA-256 of what the batch says: audience, destination, operation, each customer_id and row hash."""
    digest = hashlib.sha256(f"{audience}\x1f{destination}\x1f{op}\x1d".encode())
    digest.update(_joined(customer_ids))
    digest.update(b"\x1d")
    digest.update(_joined(row_hashes))
    return digest.hexdigest()


def _joined(values: list[str] | pa.ChunkedArray) -> bytes | pa.Buffer:
    """The values joined by \x1e, UTF-8. An Arrow column is joined in Arrow: a 527k-row batch's key took 0.19 s of
    CPU through Python lists against 0.03 s."""
    if isinstance(values, list):
        return "\x1e".join(values).encode()
    if values.null_count:
        raise ValueError("a batch key needs every customer_id and row hash: a value is missing")
    whole = values.combine_chunks()
    one_list = pa.ListArray.from_arrays(pa.array([0, len(whole)], pa.int32()), whole)
    return pc.binary_join(one_list, "\x1e")[0].as_buffer()


def sha256_identifier(kind: str, value: str | None) -> str | None:
    """The hash ad platforms match on: SHA-256 of the trimmed lower-case email, or of the E.164 phone."""
    if value is None or not value.strip():
        return None
    normal = value.strip().lower() if kind == "email" else "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return hashlib.sha256(normal.encode()).hexdigest()


def _hash_column(kind: str, values: pa.ChunkedArray) -> pa.Array:
    return pa.array([sha256_identifier(kind, v) for v in values.to_pylist()], pa.string())


@dataclass
class FileDrop:
    name: str
    folder: Path
    format: Literal["csv", "parquet"] = "csv"
    hash_identifiers: bool = False
    supports_removals: bool = True
    batch_size: int = 1_000_000  # one file per million people

    def _table(self, batch: Batch) -> pa.Table:
        if batch.op == "remove" or not self.hash_identifiers:
            return batch.table
        return pa.table(
            {
                "customer_id": batch.table["customer_id"],
                "email_sha256": _hash_column("email", batch.table["email"]),
                "phone_sha256": _hash_column("phone", batch.table["phone"]),
            }
        )

    def path(self, batch: Batch) -> Path:
        return self.folder / batch.audience / f"{batch.sync_id}-{batch.key[:16]}-{batch.op}.{self.format}"

    def deliver(self, batch: Batch) -> None:
        target = self.path(batch)
        if any((self.folder / batch.audience).glob(f"*-{batch.key[:16]}-{batch.op}.{self.format}")):
            return  # this exact batch was dropped already (a resumed sync)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        table = self._table(batch)
        if self.format == "csv":
            pacsv.write_csv(table, partial)
        else:
            pq.write_table(table, partial)
        partial.rename(target)  # readers never see half a file

    def close(self) -> None:
        pass


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


@dataclass
class Webhook:
    name: str
    url: str
    max_attempts: int = 5
    timeout_seconds: float = 10.0
    max_wait_seconds: float = 30.0
    backoff_seconds: float = 0.5
    supports_removals: bool = True
    batch_size: int = 500
    sleep: Callable[[float], None] = time.sleep  # tests pass a recorder instead of waiting
    attempts: int = field(default=0, init=False)  # HTTP requests made (for the sync record)

    def _post(self, batch: Batch) -> None:
        body = json.dumps(
            {"audience": batch.audience, "op": batch.op, "idempotency_key": batch.key, "members": batch.rows}
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": batch.key},
        )
        self.attempts += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise _Retryable("429", _retry_after(exc.headers.get("Retry-After"))) from None
            if exc.code >= 500:
                raise _Retryable(str(exc.code)) from None
            raise DeadLetter(f"{self.name} refused the batch with HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, a half-read response
            raise _Retryable(type(exc).__name__) from None

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait_seconds)
        return float(
            wait_exponential(multiplier=self.backoff_seconds, max=self.max_wait_seconds)(state)  # type: ignore[arg-type]
        )

    def deliver(self, batch: Batch) -> None:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: batch %s attempt %d failed (%s)", self.name, batch.key[:12], state.attempt_number, error)

        send = retry(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            after=log_retry,
            sleep=self.sleep,
            reraise=True,
        )(self._post)
        try:
            send(batch)
        except _Retryable as exc:
            raise DeadLetter(f"{self.name}: {self.max_attempts} attempts failed, last: {exc}") from None

    def close(self) -> None:
        pass


@dataclass
class PostgresTable:
    name: str
    url: str
    table: str = "crm_audience_members"
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    supports_removals: bool = True
    batch_size: int = 5000
    _conn: Any = field(default=None, init=False)

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, connect_timeout=10)
            with self._conn.transaction():
                self._conn.execute(
                    f"create table if not exists {self.table} ("
                    "audience_name text not null, customer_id text not null, email text, phone text, "
                    "first_name text, last_name text, sync_id text, synced_at timestamptz not null default now(), "
                    "primary key (audience_name, customer_id))"
                )
        return self._conn

    def _write(self, batch: Batch) -> None:
        import psycopg

        try:
            conn = self._connect()
            with conn.transaction(), conn.cursor() as cur:
                if batch.op == "remove":
                    cur.execute(
                        f"delete from {self.table} where audience_name = %s and customer_id = any(%s)",
                        (batch.audience, [r["customer_id"] for r in batch.rows]),
                    )
                else:
                    cur.executemany(
                        f"insert into {self.table} as t "
                        "(audience_name, customer_id, email, phone, first_name, last_name, sync_id, synced_at) "
                        "values (%s, %s, %s, %s, %s, %s, %s, now()) on conflict (audience_name, customer_id) do update "
                        "set email = excluded.email, phone = excluded.phone, first_name = excluded.first_name, "
                        "last_name = excluded.last_name, sync_id = excluded.sync_id, synced_at = excluded.synced_at",
                        [
                            (batch.audience, r["customer_id"], r["email"], r["phone"], r["first_name"],
                             r["last_name"], batch.sync_id)
                            for r in batch.rows
                        ],
                    )  # fmt: skip
        except psycopg.OperationalError as exc:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise _Retryable(type(exc).__name__) from None

    def deliver(self, batch: Batch) -> None:
        send = retry(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=10),
            reraise=True,
        )(self._write)
        try:
            send(batch)
        except _Retryable as exc:
            raise DeadLetter(f"{self.name}: {self.max_attempts} attempts failed, last: {exc}") from None

    def delete_customers(self, customer_ids: list[str]) -> int:
        """Erasure: remove the people from every audience in the CRM table; returns rows deleted."""
        conn = self._connect()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"delete from {self.table} where customer_id = any(%s)", (customer_ids,))
            return int(cur.rowcount)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def build_destination(
    name: str, config: DestinationConfig, *, exports_dir: Path, postgres_url: str, webhook_url: str | None
) -> Destination:
    if isinstance(config, FileDestination):
        return FileDrop(name, exports_dir / name, config.format, config.hash_identifiers)
    if isinstance(config, WebhookDestination):
        url = config.url or webhook_url
        if not url:
            raise ValueError(f"destination {name!r} needs a URL: set CDP_ACTIVATION_WEBHOOK_URL")
        return Webhook(
            name,
            url,
            config.max_attempts,
            config.timeout_seconds,
            config.max_wait_seconds,
            batch_size=config.batch_size,
        )
    if isinstance(config, PostgresDestination):
        return PostgresTable(name, postgres_url, config.table, batch_size=config.batch_size)
    raise TypeError(f"unknown destination type for {name!r}")
