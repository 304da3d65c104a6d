"""The suppression list: SHA-256 hashes of erased people's normalised identifiers, read by the bronze ingest.

One definition of an identifier's hash, used on both sides: :func:`identifier_hash` normalises a raw value with
the normaliser its type names in the identity rules (``spark_jobs.normalise``, the same functions identity
resolution uses) and hashes the result. ``cdp erase`` (``activation.erasure``) writes these hashes to
``audit.suppression_list``; the ingest (:class:`Suppressor`, inside the framing/parsing function) hashes each
record's identifiers and drops the records that match, so a re-sent file cannot bring an erased person back.

Where a source keeps its identifiers is the identity rules' ``sources`` block (Spark SQL over the bronze row),
evaluated here by DuckDB over the parsed text columns (``get_json_object`` is given as a macro). Only distinct values
are normalised (a handful per person), and only when the list is not empty: an ingest with no erasures pays nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from spark_jobs.normalise import Normalised, normalise_identifier
from spark_jobs.rules import IdentityRules

# The identifier types an erasure suppresses: those a source file carries that name one person. (Device and
# anonymous ids are shared by households and browsers; customer ids are the platform's own and never in a file.)
SUPPRESSED_TYPES = ("customer_ref", "crm_contact_id", "loyalty_card", "email", "phone")
# The framing error a suppressed record carries through validation: counted apart, never written anywhere.
SUPPRESSED = "suppressed: an identifier of this record is on the erasure suppression list"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise(id_type: str, raw: str, rules: IdentityRules, default_region: str, region_hint: str | None = None
              ) -> Normalised:  # fmt: skip
    """``raw`` normalised as identity resolution normalises an identifier of ``id_type``: (value, None) or
    (None, why it identifies nobody)."""
    normaliser = rules.identifier_types[id_type].normaliser
    return normalise_identifier(normaliser, raw, region_hint, default_region, rules.normalisation)


def identifier_hash(normalised_value: str) -> str:
    """The suppression hash of an already normalised identifier value (or of a customer id)."""
    return sha256(normalised_value)


@dataclass(frozen=True)
class Suppressor:
    """Finds the records of one source whose identifiers hash to a suppressed entry. Picklable (it travels to the
    engine's workers inside the framing function); the DuckDB connection is made where it runs."""

    hashes: frozenset[str]
    expressions: tuple[tuple[str, str, str | None], ...]  # (id_type, SQL over the parsed row, region-hint SQL)
    rules: IdentityRules
    default_region: str
    _cache: dict[tuple[str, str], str | None] = field(default_factory=dict, compare=False, repr=False)

    def suppressed(self, parsed: pa.Table) -> pa.Array:
        """A boolean per row: True when any of its identifiers is on the list."""
        hit = pa.array([False] * parsed.num_rows, pa.bool_())
        if not self.hashes or not self.expressions or parsed.num_rows == 0:
            return hit
        con = _connection()
        con.register("parsed", parsed)
        try:
            # One key per identifier: the raw value and its region hint (a phone's reading depends on both).
            select = ", ".join(
                f"({sql})::varchar || chr(0) || coalesce(({hint or 'NULL'})::varchar, '') AS k{i}"
                for i, (_, sql, hint) in enumerate(self.expressions)
            )
            keys = con.execute(f"SELECT {select} FROM parsed").to_arrow_table()
        finally:
            con.close()
        for i, (id_type, _, _) in enumerate(self.expressions):
            column = keys.column(f"k{i}")
            bad = [key for key in pc.unique(column.drop_null()).to_pylist() if self._hash(id_type, key) in self.hashes]
            if bad:
                hit = pc.or_(hit, pc.fill_null(pc.is_in(column, pa.array(bad, pa.string())), False))
        return pa.array(hit) if isinstance(hit, pa.ChunkedArray) else hit

    def _hash(self, id_type: str, key: str) -> str | None:
        found = self._cache.get((id_type, key), "")
        if found == "":
            raw, _, hint = key.partition("\x00")
            value, _ = normalise(id_type, raw, self.rules, self.default_region, hint or None)
            found = identifier_hash(value) if value else None
            if len(self._cache) < 500_000:  # bounded: a worker holds one source's distinct values at most
                self._cache[(id_type, key)] = found
        return found


def _connection() -> duckdb.DuckDBPyConnection:
    """A connection for one call: the engine may run several framing functions at once in threads of one process,
    and a DuckDB connection must not be shared between threads (opening one takes about a millisecond)."""
    con = duckdb.connect(config={"threads": 1})
    # The identity rules are Spark SQL; this is the one function they use that DuckDB spells differently.
    con.execute("CREATE MACRO get_json_object(j, p) AS json_extract_string(j, p)")
    return con


def suppressor(source: str, hashes: Iterable[str], rules: IdentityRules, default_region: str) -> Suppressor | None:
    """The suppressor of one source, or None when the list is empty or the source carries no identifier."""
    hashes = frozenset(hashes)
    declared = rules.sources.get(source)
    if not hashes or declared is None:
        return None
    expressions = tuple(
        (id_type, sql, declared.phone_region if id_type == "phone" else None)
        for id_type, sqls in declared.identifiers.items()
        if id_type in SUPPRESSED_TYPES
        for sql in sqls
    )
    return Suppressor(hashes, expressions, rules, default_region) if expressions else None
