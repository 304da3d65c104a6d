"""Parsing: framed records -> one text column per contract field, with DuckDB's JSON reader, where Spark runs.

Each record (a JSON-lines line, or a CSV row that framing turned into a JSON object) is read once by DuckDB's
``json_transform`` into one string per top-level field; fields with a ``json_path`` are read from their parent's
text with a second, small parse. This runs inside ``mapInArrow`` (:func:`frame_and_parse` for landing files,
:func:`parse_batches` for already framed rows), on the executors, one file at a time: DuckDB releases the GIL
while it parses, so files are parsed in parallel even on engines that run Python UDFs in-process, and it parses
about three times faster than Spark's ``from_json`` on Sail (BENCHMARKS.md).

What a field's text is, whatever JSON the producer sent: a string is its value; a number, boolean, array or object
is its JSON text (so a malformed value reaches the contract check and its reason shows it); ``null`` or a missing
key is null. Values of required, typed or enumerated fields are trimmed of spaces, and an empty one is null
(``"  "`` is missing, ``" 42 "`` is 42); optional free text is kept exactly as sent. A record that is not a JSON
object (invalid JSON, an array, a bare value) gets the framing error ``malformed JSON: not a JSON object``; its
fields are null. Keys match case-sensitively; if a key repeats in one record, its first value is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import FieldType, SourceContract
from ingest.framing import batches_of, file_framer, listed_files
from ingest.suppression import SUPPRESSED, Suppressor

NOT_AN_OBJECT = "malformed JSON: not a JSON object"
# Framed rows pass through as they are; the contract's fields (all text until type_and_check) follow them.
_PASSED_THROUGH = (
    ("_file_order", pa.int32()),
    ("_source_file", pa.string()),
    ("_file_checksum", pa.string()),
    ("_row_number", pa.int64()),
    ("_raw", pa.string()),
    ("_frame_error", pa.string()),
)
# Set on every record whose deduplication key occurs more than once in the same file (or batch): one of them will
# be quarantined as a duplicate, so the job keeps its raw text in the checkpoint (``type_and_check``).
KEY_REPEATED = "_key_repeated"


def parsed_schema(contract: SourceContract) -> str:
    """Spark schema of parsed rows: lineage, the raw text, the framing error, the repeated-key flag, then one string
    per field."""
    names = {pa.int32(): "int", pa.int64(): "long", pa.string(): "string"}
    lineage = [f"{name} {names[kind]}" for name, kind in _PASSED_THROUGH]
    return ", ".join([*lineage, f"{KEY_REPEATED} boolean", *(f"`{f.name}` string" for f in contract.fields)])


def _arrow_schema(contract: SourceContract) -> pa.Schema:
    return pa.schema([*_PASSED_THROUGH, (KEY_REPEATED, pa.bool_()), *((f.name, pa.string()) for f in contract.fields)])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _structure(paths: list[str]) -> str:
    """DuckDB ``json_transform`` structure for dotted paths, every leaf as text: ["device.id", "ip"] ->
    {"device": {"id": "VARCHAR"}, "ip": "VARCHAR"}."""
    tree: dict = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = "VARCHAR"
    return json.dumps(tree)


def _parse_sql(contract: SourceContract) -> str:
    """One query over a table ``records(_row_number, _text)`` that returns ``_row_number``, ``_malformed`` and one
    column per field.

    Each record is parsed once into a struct of its top-level keys as text; fields with a ``json_path`` are read
    from their parent's text with a second, small parse (cheaper than extracting every path from the record)."""
    top_level = [f.name for f in contract.fields if not f.json_path]
    parents = sorted({f.json_path.split(".")[0] for f in contract.fields if f.json_path})
    nested = [
        f"try(json_transform(_r.{_quoted(parent)}, {_literal(_structure(_children(contract, parent)))}))"
        f" AS {_quoted('_nested_' + parent)}"
        for parent in parents
    ]
    columns = []
    for field in contract.fields:
        if field.json_path:
            parent, _, rest = field.json_path.partition(".")
            value = _quoted("_nested_" + parent)
            for part in rest.split("."):
                value = f"struct_extract({value}, {_literal(part)})"
        else:
            value = f"struct_extract(_r, {_literal(field.name)})"
        columns.append(f"{value} AS {_quoted(field.name)}")
    # A JSON object starts with "{": valid JSON that is not an object (an array, a bare value) gives a struct of
    # nulls, so the brace tells it apart from an empty object without a second parse.
    malformed = "_text IS NOT NULL AND (_r IS NULL OR NOT starts_with(ltrim(_text, E' \\t\\r\\n'), '{'))"
    # try(): invalid JSON is a null struct instead of an error that fails the whole file.
    return (
        f"SELECT _row_number, {malformed} AS _malformed, {', '.join(columns)} FROM ("
        f"SELECT _row_number, _text, _r{''.join(', ' + n for n in nested)} FROM ("
        f"SELECT _row_number, _text, try(json_transform(_text, {_literal(_structure(top_level))})) AS _r"
        " FROM records))"
    )


def _children(contract: SourceContract, parent: str) -> list[str]:
    """The paths under ``parent`` of the fields read from it: "context.device.id" -> "device.id"."""
    paths = [f.json_path for f in contract.fields if f.json_path]
    return [path.partition(".")[2] for path in paths if path.startswith(parent + ".")]


def repeated_keys(keys: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where the (non-null) key occurs more than once in ``keys``: a hash count, a few ms per 100k rows."""
    counts = pc.value_counts(keys)
    repeated = counts.field("values").filter(
        pc.and_(pc.greater(counts.field("counts"), 1), counts.field("values").is_valid())
    )
    return pc.fill_null(pc.is_in(keys, value_set=repeated, skip_nulls=True), False)


def _trimmed(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Spaces (only, as Spark's ``trim``) cut from both ends; an empty value is null: "  " is missing."""
    trimmed = pc.utf8_trim(values, characters=" ")
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


class RecordParser:
    """Parses framed Arrow tables for one contract with one single-threaded DuckDB connection (the engine runs
    one task per core; more DuckDB threads would only compete with them)."""

    def __init__(self, contract: SourceContract) -> None:
        self.schema = _arrow_schema(contract)
        self._sql = _parse_sql(contract)
        self._fields = contract.field_names
        self._key = contract.dedupe_on
        # Optional free text passes through as sent; the rest is trimmed (in Arrow: DuckDB's trim is far slower).
        self._trimmed = {
            f.name for f in contract.fields if f.required or f.type is not FieldType.STRING or f.accepted_values
        }
        self._connection = duckdb.connect(config={"threads": 1})

    def parse(self, framed: pa.Table) -> pa.Table:
        """Framed rows (lineage, ``_row_number``, ``_raw``, ``_record``, ``_frame_error``) -> parsed rows with the
        columns of :func:`parsed_schema` (the raw text keeps its framed type; :func:`batches_of` casts it)."""
        # The record to parse: a CSV row's JSON, else the line; nothing for a row framing already rejected. (Each
        # step only when needed: the usual JSON-lines file passes its lines through without a copy.)
        raw, record, error = framed.column("_raw"), framed.column("_record"), framed.column("_frame_error")
        text = raw if record.null_count == len(record) else pc.coalesce(record, raw)
        if error.null_count < len(error):
            text = pc.if_else(pc.is_null(error), text, pa.scalar(None, text.type))
        self._connection.register("records", pa.table({"_row_number": framed.column("_row_number"), "_text": text}))
        try:
            parsed = self._connection.execute(self._sql).to_arrow_table()
        finally:
            self._connection.unregister("records")
        # Cannot happen (one thread, a projection only), and checked anyway: a silent misalignment of fields and
        # lines would be far worse than a failed run.
        if not parsed.column("_row_number").equals(framed.column("_row_number")):
            raise RuntimeError("the JSON parser returned rows out of order; refusing to pair fields with lines")
        columns = {name: framed.column(name) for name, _ in _PASSED_THROUGH}
        columns["_frame_error"] = pc.if_else(parsed.column("_malformed"), NOT_AN_OBJECT, columns["_frame_error"])
        fields = {
            name: _trimmed(parsed.column(name)) if name in self._trimmed else parsed.column(name)
            for name in self._fields
        }
        repeated = repeated_keys(fields[self._key]) if self._key else pa.repeat(pa.scalar(False), framed.num_rows)
        return pa.table({**columns, KEY_REPEATED: repeated, **fields})

    def close(self) -> None:
        self._connection.close()


def parse_batches(contract: SourceContract) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function that parses already framed rows (``ingest.framing.FRAMED_SCHEMA``)."""

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parser = RecordParser(contract)
        try:
            for batch in batches:
                yield from batches_of(parser.parse(pa.Table.from_batches([batch])), parser.schema)
        finally:
            parser.close()

    return parse


def without_suppressed(parsed: pa.Table, suppressed: pa.Array) -> pa.Table:
    """Rows whose identifiers are on the suppression list keep their lineage only: no raw text, no fields, and the
    framing error :data:`ingest.suppression.SUPPRESSED`, so validation counts them apart and nothing of them is
    written (quarantine would keep the personal data the erasure removed)."""
    if not pc.any(suppressed).as_py():
        return parsed
    columns = {}
    for name in parsed.column_names:
        column = parsed.column(name)
        if name in ("_file_order", "_source_file", "_file_checksum", "_row_number"):
            columns[name] = column
        elif name == "_frame_error":
            columns[name] = pc.if_else(suppressed, SUPPRESSED, column)
        else:
            columns[name] = pc.if_else(suppressed, pa.scalar(None, column.type), column)
    return pa.table(columns)


def frame_and_parse(
    contract: SourceContract, max_record_bytes: int, suppressor: Suppressor | None = None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of the ingest job: landing files (_file_order, path, checksum) -> parsed rows
    (:func:`parsed_schema`), each file framed and parsed whole before its rows move on; with a ``suppressor``,
    records of erased people are emptied (:func:`without_suppressed`)."""
    frame_file = file_framer(contract, max_record_bytes)

    def run(listing: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parser = RecordParser(contract)
        try:
            for order, path, checksum in listed_files(listing):
                parsed = parser.parse(frame_file(order, path, checksum))
                if suppressor is not None:
                    parsed = without_suppressed(parsed, suppressor.suppressed(parsed))
                yield from batches_of(parsed, parser.schema)
        finally:
            parser.close()

    return run
