"""Planted bad rows: the records the ingest must quarantine.

Each source has a fixed set of bad-row kinds. Every chunk plants about one row per kind per 10,000
rows (randomly rounded), and the first chunk(s) of a run with >= 1,000 customers plant at least one
of every kind, so small test runs still exercise every quarantine rule. Bad rows are mutated copies
of real rows (re-serialised after the mutation: what went wrong in transit) or, for duplicates, an
extra copy of an earlier event inserted shortly after it (plus, in generate.py, a copy of the previous
file's last event at the top of each new events file).
"""

from __future__ import annotations

import random
from typing import Any

from .render import RenderedSource, dump_line, parse_line
from .schema import SourceSpec

RATE_PER_ROW = 1 / 10_000
BAD_TIMESTAMPS = ("31/02/2025 25:61", "yesterday 10am", "2025-13-45T99:99:99+07:00")
DUPLICATE = "duplicate_message_id"  # labelled _in_file / _across_files once the writer knows the files
DUP_IN_FILE = "duplicate_message_id_in_file"
DUP_ACROSS_FILES = "duplicate_message_id_across_files"

# Every kind hits a required field, a required enum, a row rule or the CSV framing: an optional field that
# does not parse is only nulled by the ingest (ingest/validation.py), so it would not be quarantined.
KINDS: dict[str, tuple[str, ...]] = {
    "events": ("missing_required_field", "unknown_enum", "unparseable_timestamp", DUPLICATE),
    "crm_contacts": ("missing_required_field", "unparseable_timestamp", "extra_field", "missing_field"),
    "orders": ("missing_required_field", "wrong_type", "unknown_enum", "unparseable_timestamp"),
    "pos_transactions": (
        "missing_required_field",
        "wrong_type",
        "unparseable_timestamp",
        "extra_field",
        "missing_field",
    ),
    "support_tickets": ("missing_required_field", "out_of_range", "unknown_enum", "unparseable_timestamp"),
    "survey_responses": (
        "missing_required_field",
        "wrong_type",
        "unknown_enum",
        "out_of_range",
        "unparseable_timestamp",
        "extra_field",
        "missing_field",
    ),
    "consent_events": ("missing_required_field", "unknown_enum", "unparseable_timestamp"),
    "messages_sent": (
        "missing_required_field",
        "unknown_enum",
        "unparseable_timestamp",
        "extra_field",
        "missing_field",
    ),
}

# field per source and kind (all required in the contract); "missing" drops the key / empties the cell
_MISSING = {
    "events": "messageId",
    "crm_contacts": "contact_id",
    "orders": "order_id",
    "pos_transactions": "transaction_id",
    "support_tickets": "ticket_id",
    "survey_responses": "response_id",
    "consent_events": "status",
    "messages_sent": "message_id",
}
_WRONG_TYPE = {
    "orders": ("total_amount", "abc"),
    "pos_transactions": ("amount", "abc"),
    "survey_responses": ("score", "ten"),
}
_UNKNOWN_ENUM = {
    "events": (("type", "click"),),
    "orders": (("channel", "fax"), ("status", "maybe")),
    "support_tickets": (("channel", "fax"),),
    "survey_responses": (("survey_type", "XYZ"),),
    "consent_events": (("status", "maybe"),),
    "messages_sent": (("channel", "fax"),),
}
_TIMESTAMP = {
    "events": "timestamp",
    "crm_contacts": "updated_at",
    "orders": "ordered_at",
    "pos_transactions": "occurred_at",
    "support_tickets": "opened_at",
    "survey_responses": "responded_at",
    "consent_events": "occurred_at",
    "messages_sent": "sent_at",
}
_OUT_OF_RANGE_SCORE = {"NPS": "11", "CSAT": "0", "CES": "8"}


def _set(spec: SourceSpec, data: Any, name: str, value: object) -> None:
    if spec.is_csv:
        data[spec.fields.index(name)] = "" if value is None else value
    elif value is None:
        del data[name]
    else:
        data[name] = value


def _mutate(spec: SourceSpec, data: Any, kind: str, rng: random.Random) -> tuple[str, str]:
    """Corrupt a parsed record in place; returns (field, detail) for planted.json."""
    src = spec.name
    if kind == "missing_required_field":
        name = _MISSING[src]
        _set(spec, data, name, None)
        return name, "field absent" if not spec.is_csv else "empty value"
    if kind == "wrong_type":
        name, value = _WRONG_TYPE[src]
        _set(spec, data, name, value)
        return name, repr(value)
    if kind == "unknown_enum":
        name, value = rng.choice(_UNKNOWN_ENUM[src])
        _set(spec, data, name, value)
        return name, repr(value)
    if kind == "unparseable_timestamp":
        name, value = _TIMESTAMP[src], rng.choice(BAD_TIMESTAMPS)
        _set(spec, data, name, value)
        return name, repr(value)
    if kind == "out_of_range":
        if src == "support_tickets":  # breaks the contact_count >= 1 rule
            _set(spec, data, "contact_count", 0)
            return "contact_count", "0"
        stype = data[spec.fields.index("survey_type")]
        value = _OUT_OF_RANGE_SCORE[stype]
        _set(spec, data, "score", value)
        return "score", f"{stype} score {value}"
    if kind == "extra_field":
        data.append("unexpected")
        return "*", f"{len(spec.fields) + 1} fields instead of {len(spec.fields)}"
    if kind == "missing_field":
        data.pop()
        return spec.fields[-1], f"{len(spec.fields) - 1} fields instead of {len(spec.fields)}"
    raise ValueError(kind)


def plant_bad_rows(spec: SourceSpec, src: RenderedSource, rng: random.Random, owed: set[str]) -> set[str]:
    """Corrupt lines of ``src`` and insert duplicates (in place); returns the kinds planted.

    ``owed`` are kinds that must appear at least once (the >= 1,000-customer guarantee).
    """
    kinds = KINDS[spec.name]
    n_rows = len(src.lines)
    if n_rows < 4 * len(kinds):
        return set()  # too few rows to keep bad rows rare; the guarantee moves to the next chunk
    planted: set[str] = set()
    taken: set[int] = set()
    dups: list[tuple[int, int]] = []  # (insert before original index + offset, original index)
    expected = n_rows * RATE_PER_ROW
    for kind in kinds:
        n = int(expected) + (rng.random() < expected - int(expected))
        if kind in owed:
            n = max(n, 1)
        for _ in range(n):
            i = _pick(n_rows, taken, rng)
            if i is None:
                break
            taken.add(i)
            planted.add(kind)
            if kind == DUPLICATE:
                dups.append((min(n_rows, i + 1 + rng.randrange(50)), i))
                continue
            data = parse_line(spec, src.lines[i])
            field, detail = _mutate(spec, data, kind, rng)
            src.lines[i] = dump_line(spec, data)
            if kind == "missing_required_field" and field == spec.id_field:
                src.rids[i] = None  # the truth then identifies the row by file:row_number
            src.bad[i] = (kind, field, detail, -1)
    if dups:
        _insert_duplicates(spec, src, dups)
    return planted


def _insert_duplicates(spec: SourceSpec, src: RenderedSource, dups: list[tuple[int, int]]) -> None:
    """Rebuild the lists (by slices) with copies inserted; bad-row indexes move to the new positions."""
    dups.sort()
    lines: list[str] = []
    rids: list[str | None] = []
    pids: list[str] = []
    bad: dict[int, tuple[str, str, str, int]] = {}
    prev = 0
    for shift, (pos, orig) in enumerate(dups):
        lines += src.lines[prev:pos]
        rids += src.rids[prev:pos]
        pids += src.pids[prev:pos]
        prev = pos
        # originals precede their copy, so an original at index `orig` has moved by the copies before it
        moved = orig + sum(1 for p, _ in dups[:shift] if p <= orig)
        bad[len(lines)] = (DUPLICATE, spec.id_field, f"copy of messageId {src.rids[orig]}", moved)
        lines.append(src.lines[orig])
        rids.append(src.rids[orig])
        pids.append(src.pids[orig])
    lines += src.lines[prev:]
    rids += src.rids[prev:]
    pids += src.pids[prev:]
    for i, mark in src.bad.items():
        bad[i + sum(1 for p, _ in dups if p <= i)] = mark
    src.lines, src.rids, src.pids, src.bad = lines, rids, pids, bad


def _pick(n: int, taken: set[int], rng: random.Random) -> int | None:
    for _ in range(50):
        i = rng.randrange(n)
        if i not in taken:
            return i
    return None
