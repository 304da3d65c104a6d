"""Quality gates on an identity run, as plain data: Dagster turns them into blocking asset checks.

Each gate reads the run's row in ``audit.identity_runs`` (and the previous run's, for spikes) and says whether the
identity map may be used downstream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spark_jobs.rules import QualityGates

CLUSTER_SIZE, MERGE_SPLIT_SPIKE, MATCHED_SHARE = "cluster_size", "merge_split_spike", "matched_share"
GATE_NAMES = (CLUSTER_SIZE, MERGE_SPLIT_SPIKE, MATCHED_SHARE)


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    message: str
    metadata: dict[str, Any]


def evaluate_gates(run: dict[str, Any], previous: dict[str, Any] | None, gates: QualityGates) -> list[GateResult]:
    histogram = json.loads(run["size_histogram"])
    largest = int(run["largest_customer"])
    results = [
        GateResult(
            CLUSTER_SIZE,
            largest <= gates.max_customer_records,
            f"largest customer holds {largest:,} records (limit {gates.max_customer_records:,})",
            {"largest_customer": largest, "size_histogram": histogram},
        )
    ]
    changes = int(run["merges"]) + int(run["splits"])
    if previous is None or not previous["customers"]:
        results.append(GateResult(MERGE_SPLIT_SPIKE, True, "first run: nothing to compare with", {"changes": changes}))
    else:
        share = changes / int(previous["customers"])
        results.append(
            GateResult(
                MERGE_SPLIT_SPIKE,
                share <= gates.max_merge_split_share,
                f"{run['merges']:,} merges and {run['splits']:,} splits of earlier ids: {share:.2%} of the previous "
                f"run's customers (limit {gates.max_merge_split_share:.2%})",
                {"merges": int(run["merges"]), "splits": int(run["splits"]), "share": share},
            )
        )
    matched = float(run["matched_share"])
    results.append(
        GateResult(
            MATCHED_SHARE,
            matched >= gates.min_matched_share,
            f"{matched:.1%} of resolved records share their customer with another record "
            f"(minimum {gates.min_matched_share:.0%})",
            {"matched_share": matched, "records": int(run["records"]), "customers": int(run["customers"])},
        )
    )
    return results
