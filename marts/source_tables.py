"""Every table the dbt project reads exists before dbt runs, so a source that never delivered a file is an empty
table (zero consent events means "no consent", not a failed build).

Bronze schemas derive from the landing-zone contract, the same declarations the ingest job types rows with, so a
later Spark append to a table created here lands on the same columns.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import write_deltalake

from cdp import lake as layout
from cdp.lake import Lake, Table
from cx.cases import ACTIONS_SCHEMA
from ingest.contracts import LINE_FIELDS, SOURCES, FieldType, SourceContract

_UTC_MICROS = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.INTEGER: pa.int32(),
    FieldType.DECIMAL: pa.decimal128(18, 2),
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.TIMESTAMP: _UTC_MICROS,
    FieldType.DATE: pa.date32(),
    FieldType.JSON: pa.string(),
}
# Order lines: a list of structs whose fields are typed like any other field.
_ARROW_TYPES[FieldType.LINES] = pa.list_(pa.struct([pa.field(f.name, _ARROW_TYPES[f.type]) for f in LINE_FIELDS]))
_LINEAGE = [
    pa.field("_problems", pa.list_(pa.struct([pa.field("field", pa.string()), pa.field("reason", pa.string())]))),
    pa.field("_source_file", pa.string()),
    pa.field("_row_number", pa.int64()),
    pa.field("_file_checksum", pa.string()),
    pa.field("_ingest_run_id", pa.string()),
    pa.field("_ingested_at", _UTC_MICROS),
]

# Other tables the marts read; an empty lake (no person records yet) still builds empty marts.
OTHER_SOURCE_SCHEMAS: dict[Table, pa.Schema] = {
    layout.IDENTITY_MAP: pa.schema(
        [
            ("customer_id", pa.string()),
            ("source", pa.string()),
            ("source_record_id", pa.string()),
            ("matched_by", pa.string()),
            ("match_probability", pa.float64()),
            ("observed_at", _UTC_MICROS),
            ("rule_version", pa.string()),
            ("run_id", pa.string()),
            ("assigned_at", _UTC_MICROS),  # when the record got its current customer_id
        ]
    ),
    layout.IDENTITY_IDENTIFIERS: pa.schema(
        [
            ("node", pa.int64()),
            ("record_key", pa.string()),
            ("source", pa.string()),
            ("source_record_id", pa.string()),
            ("observed_at", _UTC_MICROS),
            ("id_type", pa.string()),
            ("raw_value", pa.string()),
            ("region_hint", pa.string()),
            ("value", pa.string()),
            ("drop_reason", pa.string()),
            ("status", pa.string()),
            ("run_id", pa.string()),
        ]
    ),
    # Agents' actions on follow-up cases (cx/cases.py): the status of gold.cx_cases.
    layout.CX_CASE_ACTIONS: ACTIONS_SCHEMA,
    # Read back to extend its history (models/marts/audience_memberships.sql).
    layout.AUDIENCE_MEMBERSHIPS: pa.schema(
        [
            ("membership_id", pa.string()),
            ("audience_name", pa.string()),
            ("customer_id", pa.string()),
            ("entered_at", _UTC_MICROS),
            ("exited_at", _UTC_MICROS),
            ("exit_reason", pa.string()),
            ("is_holdout", pa.bool_()),
        ]
    ),
}


def bronze_schema(contract: SourceContract) -> pa.Schema:
    return pa.schema([pa.field(f.name, _ARROW_TYPES[f.type]) for f in contract.fields] + _LINEAGE)


def ensure_source_tables(lake: Lake) -> list[Table]:
    """Create every missing source table of the marts as an empty Delta table; return the ones created."""
    wanted = {layout.bronze(name): bronze_schema(contract) for name, contract in SOURCES.items()}
    wanted.update(OTHER_SOURCE_SCHEMAS)
    created = []
    for table, schema in wanted.items():
        if not lake.exists(table):
            write_deltalake(lake.uri(table), schema.empty_table(), mode="append")
            created.append(table)
    return created
