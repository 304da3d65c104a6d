"""Data sources: the gold Delta tables the feature views read, through Feast's DuckDB offline store.

The trait history (one snapshot per build's ``as_of``) is the timestamped source of every trait: a training row for
time ``t`` gets the latest snapshot at or before ``t``. Audience membership is a history of stays
(``entered_at``/``exited_at``); :mod:`feature_store.audiences` turns it into one row per customer and change with
the audiences in force, a Delta table beside the marts. The golden record has no history: its timestamp is the
latest record of the person (``last_seen_at``), so it serves the online profile, not training sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from feast import FileSource
from feast.data_format import DeltaFormat

from cdp import lake as layout
from cdp.lake import Lake, Layer, Table

# Derived from gold.audience_memberships by feature_store.audiences before each materialisation.
CUSTOMER_AUDIENCE_HISTORY = Table(Layer.GOLD, "customer_audience_history")


@dataclass(frozen=True)
class LakeSources:
    trait_history: FileSource
    audience_history: FileSource
    customers: FileSource

    def all(self) -> list[FileSource]:
        return [self.trait_history, self.audience_history, self.customers]


def _delta(lake: Lake, table: Table, timestamp_field: str, description: str) -> FileSource:
    return FileSource(
        name=table.name,
        path=lake.uri(table),
        file_format=DeltaFormat(),  # read through the Delta log (DuckDB's delta_scan), never stale parquet files
        timestamp_field=timestamp_field,
        description=description,
        tags={"lake_table": table.qualified_name},
    )


def lake_sources(lake: Lake) -> LakeSources:
    return LakeSources(
        trait_history=_delta(
            lake, layout.CUSTOMER_TRAIT_HISTORY, "as_of", "Traits per customer, one snapshot per build's as_of."
        ),
        audience_history=_delta(
            lake, CUSTOMER_AUDIENCE_HISTORY, "changed_at", "Audiences in force per customer from each change on."
        ),
        customers=_delta(lake, layout.CUSTOMERS, "last_seen_at", "The golden record (current state, no history)."),
    )
