"""Framing: turn landing files into records with exact lineage, where Spark runs.

Spark's file readers cannot say which line of which file a row came from on every engine (Sail has neither
``input_file_name()`` nor ``_metadata``), and a CSV comment may span lines. So the files are framed by
:func:`frame_files`, applied with ``mapInArrow`` over a DataFrame of file paths: it runs on the executors of a
cluster (or Sail's workers), one file at a time, and never materialises a whole landing folder in one place.

Each output row is one record: its file, its line number (1-based; for CSV the header is line 1), its raw text,
the record as a JSON object (CSV rows are converted so both formats are parsed the same way), and a framing error
when the record or the whole file cannot be read. A whole-file error is one row with a null line number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip
from isal.igzip_lib import IsalError

from ingest.contracts import SourceContract

FRAMED_SCHEMA = (
    "_file_order int, _source_file string, _file_checksum string, _row_number long, _raw string, "
    "_record string, _frame_error string"
)
FRAMED_ARROW_SCHEMA = pa.schema(
    [
        ("_file_order", pa.int32()),
        ("_source_file", pa.string()),
        ("_file_checksum", pa.string()),
        ("_row_number", pa.int64()),
        ("_raw", pa.string()),
        ("_record", pa.string()),
        ("_frame_error", pa.string()),
    ]
)
_RECORD_SCHEMA = pa.schema(list(FRAMED_ARROW_SCHEMA)[3:])
BATCH_ROWS = 50_000


class FileRejected(Exception):
    """The whole file cannot be ingested; the message says why in words a data engineer can act on."""


def read_bytes(path: str) -> bytes:
    """Read a landing file, decompressing .gz; raise FileRejected with a clear reason."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FileRejected(f"unreadable file: {exc.strerror or exc}") from exc
    if path.endswith(".gz"):
        try:
            data = _gunzip(data)
        except EOFError as exc:
            raise FileRejected("truncated gzip: the file ends before the end-of-stream marker") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            # Not the library's message: it quotes the file's first bytes, which may be personal data.
            raise FileRejected("not a valid gzip file: the .gz name does not match its content") from exc
    if not data or data.isspace():  # isspace() stops at the first other byte, unlike strip()
        raise FileRejected("empty file: no records")
    return data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is common in spreadsheet exports


def _gunzip(data: bytes) -> bytes:
    """Decompress every member of a gzip file with ISA-L (about 40% less CPU than zlib; it releases the GIL too).
    A file it cannot read is read again by the standard library, whose error names the reason as before."""
    try:
        return igzip.decompress(data)
    # Its errors differ from the standard library's (classes; trailing bytes read as a truncation).
    except (EOFError, OSError, IsalError):  # type: ignore[misc]  # the stub declares IsalError as an instance
        return gzip.decompress(data)


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileRejected(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}); "
            "re-export the file as UTF-8"
        ) from exc


def _size_error(raw: str, max_record_bytes: int) -> str | None:
    # Cheap upper bound first: a UTF-8 character is at most 4 bytes.
    if len(raw) * 4 <= max_record_bytes:
        return None
    size = len(raw.encode("utf-8"))
    return _size_error_text(size, max_record_bytes) if size > max_record_bytes else None


def frame_jsonl(data: bytes, max_record_bytes: int) -> pa.Table:
    """Frame a JSON-lines file: one row per non-blank line (line number, raw, error).

    Event files are the bulk of the landing zone, so this never makes a Python object per line: the lines are
    views into the decompressed buffer (offsets from the newline positions), checked and trimmed with Arrow."""
    buffer = pa.py_buffer(data)  # no copy: every line below is a view into this buffer
    whole = pa.Array.from_buffers(
        pa.large_binary(), 1, [None, pa.py_buffer(np.array([0, len(data)], np.int64)), buffer]
    )
    try:
        whole.cast(pa.large_string())  # validates UTF-8 once for the whole file, in C++
    except pa.ArrowInvalid:
        decode_utf8(data)  # raises with the offset and line of the first bad byte
        raise
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A)
    ends = newlines + 1 if data.endswith(b"\n") else np.append(newlines + 1, len(data))
    offsets = np.concatenate(([0], ends))
    # Each line is its bytes up to and including its newline; 64-bit offsets only for a file over 2 GB.
    kind, offset_type = (pa.string(), np.int32) if len(data) < 2**31 else (pa.large_string(), np.int64)
    lines = pa.Array.from_buffers(kind, len(ends), [None, pa.py_buffer(offsets.astype(offset_type)), buffer])
    text = pc.utf8_rtrim(lines, characters="\r\n")  # the newline and any CR before it
    numbers = pa.array(np.arange(1, len(text) + 1, dtype=np.int64))
    blank = pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))
    if pc.any(blank).as_py():
        keep = pc.invert(blank)
        text, numbers = text.filter(keep), numbers.filter(keep)
    sizes = pc.binary_length(text)
    oversized = pc.greater(sizes, max_record_bytes)
    errors = pa.nulls(len(text), pa.string())
    if pc.any(oversized).as_py():
        errors = pa.array(
            [
                _size_error_text(size, max_record_bytes) if big else None
                for size, big in zip(sizes.to_pylist(), oversized.to_pylist(), strict=True)
            ],
            pa.string(),
        )
    return pa.table(
        {"_row_number": numbers, "_raw": text, "_record": pa.nulls(len(text), pa.string()), "_frame_error": errors}
    )


def _size_error_text(size: int, max_record_bytes: int) -> str:
    return f"record is {size / 1e6:.1f} MB, over the {max_record_bytes / 1e6:.1f} MB limit (CDP_MAX_RECORD_BYTES)"


def frame_csv(
    text: str, known_columns: tuple[str, ...], required_columns: tuple[str, ...], max_record_bytes: int
) -> pa.Table:
    """Frame a CSV file: one row per record (line number, raw text, the record as a JSON object, error).
    Raise FileRejected on a bad header."""
    return pa.Table.from_pylist(
        [
            {"_row_number": n, "_raw": raw, "_record": record, "_frame_error": error}
            for n, raw, record, error in _csv_records(text, known_columns, required_columns, max_record_bytes)
        ],
        schema=_RECORD_SCHEMA,
    )


def _csv_records(
    text: str, known_columns: tuple[str, ...], required_columns: tuple[str, ...], max_record_bytes: int
) -> Iterator[tuple[int, str, str | None, str | None]]:
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise FileRejected("empty file: no header row") from None
    except csv.Error as exc:
        raise FileRejected(f"unreadable CSV header: {exc}") from exc
    unknown = [name for name in header if name not in known_columns]
    if unknown:
        raise FileRejected(f"unknown columns: {', '.join(unknown)}; the contract allows: {', '.join(known_columns)}")
    missing = [name for name in required_columns if name not in header]
    if missing:
        raise FileRejected(f"missing required columns: {', '.join(missing)}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise FileRejected(f"duplicated columns: {', '.join(duplicated)}")
    width = len(header)
    start = reader.line_num  # physical lines consumed so far (the header may span lines)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = "\n".join(lines[start : reader.line_num])
            yield start + 1, raw, None, f"unreadable CSV record: {exc}"
            start = reader.line_num
            continue
        first_line, start = start + 1, reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        raw = "\n".join(lines[first_line - 1 : start]).removesuffix("\r")
        error = _size_error(raw, max_record_bytes)
        if error is None and len(fields) != width:
            error = f"expected {width} fields as in the header, found {len(fields)}"
        if error:
            yield first_line, raw, None, error
            continue
        record = {name: (value if value != "" else None) for name, value in zip(header, fields, strict=True)}
        yield first_line, raw, json.dumps(record, ensure_ascii=False), None


def listed_files(listing: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, str, str]]:
    """(_file_order, path, checksum) of each file in a listing of landing files, as ``mapInArrow`` passes it."""
    for batch in listing:
        yield from zip(
            batch.column("_file_order").to_pylist(),
            batch.column("path").to_pylist(),
            batch.column("checksum").to_pylist(),
            strict=True,
        )


def batches_of(table: pa.Table, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The table as record batches of ``schema``: cast per batch, because the raw text of a file over 2 GB has
    64-bit offsets and only a batch of it fits the 32-bit string type Spark receives."""
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        yield batch.cast(schema)


def file_framer(contract: SourceContract, max_record_bytes: int) -> Callable[[int, str, str], pa.Table]:
    """Build the function that frames one landing file (_file_order, path, checksum) into a table of records
    with the columns of :data:`FRAMED_SCHEMA`; a rejected file is one row with its reason."""
    known_columns = tuple(f.name for f in contract.fields if not f.json_path)
    accepted_suffixes = tuple(p.removeprefix("*") for p in contract.file_patterns)

    def frame_file(order: int, path: str, checksum: str) -> pa.Table:
        try:
            if not path.endswith(accepted_suffixes):
                raise FileRejected(
                    f"unsupported file type: {contract.name} accepts {', '.join(contract.file_patterns)}"
                )
            data = read_bytes(path)
            if path.removesuffix(".gz").endswith(".csv"):
                records = frame_csv(decode_utf8(data), known_columns, contract.required_fields, max_record_bytes)
            else:
                records = frame_jsonl(data, max_record_bytes)
        except FileRejected as exc:
            records = pa.Table.from_pylist(
                [{"_row_number": None, "_raw": None, "_record": None, "_frame_error": str(exc)}], schema=_RECORD_SCHEMA
            )
        n = records.num_rows
        lineage = {
            "_file_order": pa.repeat(pa.scalar(order, pa.int32()), n),
            "_source_file": pa.repeat(pa.scalar(path, pa.string()), n),
            "_file_checksum": pa.repeat(pa.scalar(checksum, pa.string()), n),
        }
        return pa.table({**lineage, **{name: records.column(name) for name in records.column_names}})

    return frame_file


RAW_SCHEMA = "_source_file string, _row_number long, _raw string"
_RAW_ARROW_SCHEMA = pa.schema([("_source_file", pa.string()), ("_row_number", pa.int64()), ("_raw", pa.string())])


def jsonl_lines(path: str, numbers: set[int]) -> dict[int, str]:
    """The raw text of the given lines of a JSON-lines file, exactly as :func:`frame_jsonl` frames it (numbered
    from 1, without the line end, a leading byte-order mark dropped), read as a stream that stops after the last
    line wanted: a duplicate near the top of a file costs little more than its own line."""
    found: dict[int, str] = {}
    last = max(numbers)
    with igzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number in numbers:
                text = line.rstrip(b"\r\n")
                found[number] = (text.removeprefix(b"\xef\xbb\xbf") if number == 1 else text).decode("utf-8")
                if number == last:
                    break
    return found


def raw_records(
    contract: SourceContract, max_record_bytes: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the ``mapInArrow`` function that reads the raw text of records again from their landing files: input
    rows (_source_file, _row_number), output :data:`RAW_SCHEMA`. For the few records whose raw text the job did not
    checkpoint (valid rows found later to be duplicates). A JSON-lines file is read as a stream up to its last line
    wanted; a CSV file, whose records may span lines, is framed again."""
    frame_file = file_framer(contract, max_record_bytes)

    def reread(rows: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        wanted: dict[str, set[int]] = {}
        for batch in rows:
            paths, numbers = batch.column("_source_file").to_pylist(), batch.column("_row_number").to_pylist()
            for path, number in zip(paths, numbers, strict=True):
                wanted.setdefault(path, set()).add(number)
        for path, lines in wanted.items():
            if path.removesuffix(".gz").endswith(".csv"):
                records = frame_file(0, path, "")
                records = records.filter(pc.is_in(records.column("_row_number"), pa.array(sorted(lines), pa.int64())))
                found = dict(
                    zip(records.column("_row_number").to_pylist(), records.column("_raw").to_pylist(), strict=True)
                )
            else:
                found = jsonl_lines(path, lines)
            if len(found) < len(lines):  # the file changed or went away since it was framed in this run
                raise RuntimeError(f"{path}: lines {sorted(lines - found.keys())[:5]} are gone; was the file changed?")
            numbers = sorted(found)
            yield pa.RecordBatch.from_pydict(
                {"_source_file": [path] * len(numbers), "_row_number": numbers, "_raw": [found[n] for n in numbers]},
                schema=_RAW_ARROW_SCHEMA,
            )

    return reread


def frame_files(
    contract: SourceContract, max_record_bytes: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the ``mapInArrow`` function that frames landing files. Input rows: _file_order, path, checksum."""
    frame_file = file_framer(contract, max_record_bytes)

    def frame(listing: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for order, path, checksum in listed_files(listing):
            yield from batches_of(frame_file(order, path, checksum), FRAMED_ARROW_SCHEMA)

    return frame
