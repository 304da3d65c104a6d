"""Find a customer by email or phone through the identity graph, normalised the way identity resolution does.

Reads silver.identity_identifiers joined to gold.identity_map with DuckDB's ``delta_scan`` (the Delta log is read on
every query, so a new identity run is seen at once). Every record that ever carried the identifier counts, used or
not by resolution: an email two current customers share (a family address, a recycled number) is reported as
ambiguous with both ids rather than answered with one of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import duckdb

from cdp import lake as layout
from cdp.lake import Lake
from marts.duckdb_delta import load_delta_extension
from spark_jobs.normalise import normalise_email, normalise_phone
from spark_jobs.rules import IdentityRules

IdType = Literal["email", "phone"]


class IdentityLookupError(LookupError):
    """Base of the lookup failures; ``code`` is the API's error code."""

    code = "lookup_failed"


class UnusableIdentifier(IdentityLookupError):
    code = "unusable_identifier"


class CustomerNotFound(IdentityLookupError):
    code = "customer_not_found"


class AmbiguousIdentifier(IdentityLookupError):
    code = "ambiguous_identifier"

    def __init__(self, message: str, customer_ids: list[str]) -> None:
        super().__init__(message)
        self.customer_ids = customer_ids


class IdentityNotBuilt(IdentityLookupError):
    code = "identity_not_built"


@dataclass(frozen=True)
class Match:
    customer_id: str
    id_type: IdType


_QUERY = """
select distinct m.customer_id
from delta_scan(?) as i
join delta_scan(?) as m on i.source = m.source and i.source_record_id = m.source_record_id
where i.id_type = ? and i.value = ?
order by 1
"""


class IdentityLookup:
    def __init__(self, lake: Lake, rules: IdentityRules, default_region: str) -> None:
        self.lake, self.rules, self.default_region = lake, rules, default_region
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect()
                load_delta_extension(self._con)
            return self._con.cursor()  # one cursor per call: a DuckDB connection is not shared across threads

    def normalise(self, id_type: IdType, raw: str) -> str:
        if id_type == "email":
            value, reason = normalise_email(raw, self.rules.normalisation)
        else:
            value, reason = normalise_phone(raw, None, self.default_region, self.rules.normalisation)
        if value is None:
            raise UnusableIdentifier(f"the {id_type} given cannot be used for lookup: {reason}")
        return value

    def find(self, id_type: IdType, raw: str) -> Match:
        value = self.normalise(id_type, raw)
        if not (self.lake.exists(layout.IDENTITY_IDENTIFIERS) and self.lake.exists(layout.IDENTITY_MAP)):
            raise IdentityNotBuilt(f"no identity graph under {self.lake.root} yet: run `cdp resolve`")
        cursor = self._cursor()
        try:
            rows = cursor.execute(
                _QUERY,
                [self.lake.uri(layout.IDENTITY_IDENTIFIERS), self.lake.uri(layout.IDENTITY_MAP), id_type, value],
            ).fetchall()
        finally:
            cursor.close()
        ids = [str(r[0]) for r in rows]
        if not ids:
            raise CustomerNotFound(f"no customer has that {id_type}")
        if len(ids) > 1:
            raise AmbiguousIdentifier(
                f"{len(ids)} customers have held that {id_type}; look the customer up by customer_id", ids
            )
        return Match(ids[0], id_type)
