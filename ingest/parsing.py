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

from collections.abc import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import FieldType, SourceContract
from ingest.framing import batches_of, file_framer, listed_files

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


def parsed_schema(contract: SourceContract) -> str:
    """Spark schema of parsed rows: lineage, the raw text, the framing error, then one string per field."""
    names = {pa.int32(): "int", pa.int64(): "long", pa.string(): "string"}
    lineage = [f"{name} {names[kind]}" for name, kind in _PASSED_THROUGH]
    return ", ".join([*lineage, *(f"`{f.name}` string" for f in contract.fields)])


def _arrow_schema(contract: SourceContract) -> pa.Schema:
    return pa.schema([*_PASSED_THROUGH, *((f.name, pa.string()) for f in contract.fields)])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(dotted: str) -> str:
    """A contract path as a JSON path with every key quoted: "context.device.id" -> $."context"."device"."id"."""
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in dotted.split("."))


def _parse_sql(contract: SourceContract) -> str:
    """One query over a table ``records(_text)`` that returns ``_malformed`` and one column per field."""
    paths = ", ".join(_literal(_json_path(f.json_path or f.name)) for f in contract.fields)
    columns = [f"_v[{i}] AS {_quoted(f.name)}" for i, f in enumerate(contract.fields, start=1)]
    # A JSON object starts with "{": valid JSON that is not an object (an array, a bare value) has none of the
    # paths, so the brace tells it apart from an empty object without a second parse.
    malformed = "_text IS NOT NULL AND (_v IS NULL OR NOT starts_with(ltrim(_text, E' \\t\\r\\n'), '{'))"
    # One parse per record for every path; try() turns invalid JSON into a null instead of failing the file.
    return (
        f"SELECT {malformed} AS _malformed, {', '.join(columns)} "
        f"FROM (SELECT _text, try(json_extract_string(_text, [{paths}])) AS _v FROM records)"
    )


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
        self._connection.register("records", pa.table({"_text": text}))
        try:
            # One thread and a projection only: DuckDB keeps the input order (preserve_insertion_order).
            parsed = self._connection.execute(self._sql).to_arrow_table()
        finally:
            self._connection.unregister("records")
        if parsed.num_rows != framed.num_rows:  # cannot happen; a silent misalignment would be far worse
            raise RuntimeError(f"parser returned {parsed.num_rows} rows for {framed.num_rows} records")
        columns = {name: framed.column(name) for name, _ in _PASSED_THROUGH}
        columns["_frame_error"] = pc.if_else(parsed.column("_malformed"), NOT_AN_OBJECT, columns["_frame_error"])
        for name in self._fields:
            columns[name] = _trimmed(parsed.column(name)) if name in self._trimmed else parsed.column(name)
        return pa.table(columns)

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


def frame_and_parse(
    contract: SourceContract, max_record_bytes: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of the ingest job: landing files (_file_order, path, checksum) -> parsed rows
    (:func:`parsed_schema`), each file framed and parsed whole before its rows move on."""
    frame_file = file_framer(contract, max_record_bytes)

    def run(listing: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parser = RecordParser(contract)
        try:
            for order, path, checksum in listed_files(listing):
                yield from batches_of(parser.parse(frame_file(order, path, checksum)), parser.schema)
        finally:
            parser.close()

    return run
