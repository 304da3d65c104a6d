"""Rotating part-file writers: part-00000.<ext>, part-00001.<ext>, ... with a fixed row budget each.

CSV: UTF-8, header row, RFC-4180 quoting via the csv module, "\\n" line ends.
JSONL: one compact JSON object per line (UTF-8, not ASCII-escaped); ``.gz`` files are written with
mtime=0 and no embedded file name so the bytes depend only on the content.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any

from .schema import SourceSpec

_WRITE_LINES = 5_000


class GzipTextFile:
    """A write-only, deterministic gzip text file (mtime=0, no file name in the header).

    Accepts str writes (so csv.writer can target it) and buffers them into large compressed writes.
    """

    def __init__(self, path: Path, compresslevel: int = 1) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=compresslevel)
        self._buf: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buf.append(text)
        self._size += len(text)
        if self._size >= 1 << 16:
            self._drain()
        return len(text)

    def _drain(self) -> None:
        self._gz.write("".join(self._buf).encode("utf-8"))
        self._buf.clear()
        self._size = 0

    def close(self) -> None:
        self._drain()
        self._gz.close()
        self._raw.close()


class RotatingWriter:
    """Writes one source's serialised lines, starting a new part file every ``rows_per_file`` rows."""

    def __init__(self, out_dir: Path, spec: SourceSpec, rows_per_file: int, compresslevel: int = 1) -> None:
        self.dir = out_dir / spec.name
        self.spec = spec
        self.rows_per_file = rows_per_file
        self.compresslevel = compresslevel
        self.files = 0  # files opened so far
        self.rows = 0  # rows written in total
        self.in_file = 0  # rows in the open file
        self.current = ""  # open file relative to out_dir, e.g. "orders/part-00000.jsonl"
        self._fh: Any = None

    @property
    def room(self) -> int:
        """Rows that still fit in the open file (0 when none is open)."""
        return self.rows_per_file - self.in_file if self._fh is not None else 0

    def open_next(self) -> None:
        self.close()
        name = f"part-{self.files:05d}.{self.spec.ext}"
        path = self.dir / name
        self.current = f"{self.spec.name}/{name}"
        if self.spec.ext.endswith(".gz"):
            self._fh = GzipTextFile(path, self.compresslevel)
        else:
            self._fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        if self.spec.is_csv:
            csv.writer(self._fh, lineterminator="\n").writerow(self.spec.fields)
        self.files += 1
        self.in_file = 0

    def write_block(self, lines: list[str]) -> tuple[str, int]:
        """Append lines to the open file (they must fit); returns (file, row number of the first line)."""
        if len(lines) > self.room:
            raise ValueError("block does not fit in the open file")
        first = self.in_file + 1
        for start in range(0, len(lines), _WRITE_LINES):  # bounded joins keep peak memory low
            part = lines[start : start + _WRITE_LINES]
            self._fh.write("\n".join(part) + "\n")
        self.in_file += len(lines)
        self.rows += len(lines)
        return self.current, first

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
