"""Activation wiring: the scheduled exports (activation/rules.yaml `exports:`) as one asset after the marts.

The work is ``activation.pipeline.run_exports``; this asset only reads the settings and reports the outcome.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
import dagster as dg

from activation.pipeline import run_exports
from activation.rules import load_rules
from cdp import lake as layout
from orchestration.defs.ingest import LAKE_WRITES_POOL
from orchestration.resources import LakeResource

ACTIVATION_GROUP = "activation"
ACTIVATION_SYNCS_KEY = dg.AssetKey([layout.ACTIVATION_SYNCS.layer.value, layout.ACTIVATION_SYNCS.name])
_MART_INPUTS = (
    layout.AUDIENCES,
    layout.AUDIENCE_MEMBERSHIPS,
    layout.CUSTOMERS,
    layout.CUSTOMER_TRAITS,
    layout.CUSTOMER_CONSENT_HISTORY,
    layout.CUSTOMER_CONSENT_RANGES,
    layout.CUSTOMER_CONTACT_HISTORY,
)


@dg.asset(
    key=ACTIVATION_SYNCS_KEY,
    deps=[dg.AssetKey([t.layer.value, t.name]) for t in _MART_INPUTS],
    group_name=ACTIVATION_GROUP,
    pool=LAKE_WRITES_POOL,
    description="Export the scheduled audiences to their destinations; every decision in audit.activation_decisions.",
)
def activation_exports(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    settings = lake.settings()
    outcomes = run_exports(
        lake.lake(),
        load_rules(settings.activation_rules),
        send_time=settings.observation_time(),
        postgres_url=settings.postgres_url,
        webhook_url=settings.activation_webhook_url,
        env=settings.env,
    )
    summary = [
        {
            "audience": o.audience,
            "destination": o.destination,
            "status": o.report.status if o.report else "error",
            "sent": o.report.decisions["send"] if o.report else 0,
            "upserts": o.report.upserts if o.report else 0,
            "removals": o.report.removals if o.report else 0,
            "error": o.error,
        }
        for o in outcomes
    ]
    failed = [s for s in summary if s["status"] != "completed"]
    if failed:
        raise dg.Failure(f"{len(failed)} of {len(summary)} exports failed", metadata={"exports": summary})
    return dg.MaterializeResult(metadata={"exports": dg.MetadataValue.json(summary), "count": len(summary)})


activation_job = dg.define_asset_job("activation_job", selection=[ACTIVATION_SYNCS_KEY])

defs = dg.Definitions(assets=[activation_exports], jobs=[activation_job])
