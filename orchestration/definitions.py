"""The Dagster code location: ``dagster dev -m orchestration.definitions``. It only merges the per-domain parts."""

from __future__ import annotations

import dagster as dg

from orchestration import resources
from orchestration.defs import activation, features, identity, ingest, maintenance, marts

defs = dg.Definitions.merge(
    resources.defs, ingest.defs, identity.defs, marts.defs, features.defs, maintenance.defs, activation.defs
)
