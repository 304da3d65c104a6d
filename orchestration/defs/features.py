"""Feature store wiring: load the online store after the marts, and check it is fresh.

The work happens in ``feature_store.store`` (apply the repo, derive the audience history, materialise the window
since the last run up to the run's as_of); the check is ``feature_store.freshness``.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.
from datetime import UTC, datetime, timedelta

import dagster as dg

from cdp import lake as layout
from feature_store.freshness import check_freshness
from feature_store.store import Features
from orchestration.defs.ingest import LAKE_WRITES_POOL
from orchestration.resources import LakeResource

FEATURES_GROUP = "features"
ONLINE_FEATURES_KEY = dg.AssetKey(["features", "online_store"])
_MART_INPUTS = [layout.CUSTOMER_TRAIT_HISTORY, layout.AUDIENCE_MEMBERSHIPS, layout.CUSTOMERS]


@dg.asset(
    key=ONLINE_FEATURES_KEY,
    group_name=FEATURES_GROUP,
    deps=[dg.AssetKey([t.layer.value, t.name]) for t in _MART_INPUTS],
    kinds={"feast", "duckdb"},
    description="Feast online store (SQLite locally, Redis in ci/prod) loaded from the marts up to the run's as_of.",
    pool=LAKE_WRITES_POOL,  # writes gold.customer_audience_history
)
def online_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    features = Features(lake.settings())
    features.apply()
    report = features.materialize()
    context.log.info(f"{features.describe()}: {len(report.views)} views in {report.seconds:.1f} s")
    return dg.MaterializeResult(
        metadata={
            "views_loaded": len(report.views),
            "loaded_until": str(max((end for _, end in report.views.values()), default=None)),
            "audience_history_rows": report.audience_rows,
            "seconds": round(report.seconds, 2),
            "stores": features.describe(),
        }
    )


@dg.asset_check(
    asset=ONLINE_FEATURES_KEY,
    name="freshness",
    description="The online store holds the lake's latest trait snapshot and was loaded within "
    "CDP_FEATURE_FRESHNESS_HOURS.",
)
def online_features_freshness(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    settings = lake.settings()
    features = Features(settings)
    event = context.instance.get_latest_materialization_event(ONLINE_FEATURES_KEY)
    last = datetime.fromtimestamp(event.timestamp, UTC) if event else None
    result = check_freshness(
        features.lake,
        features.materialized_until(),
        last_materialised_at=last,
        now=datetime.now(UTC),
        max_age=timedelta(hours=settings.feature_freshness_hours),
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=result.message,
        metadata={
            "latest_snapshot": str(result.latest_snapshot),
            "behind": dg.MetadataValue.json(result.behind),
            "hours_since_materialised": result.hours_since_materialised,
        },
    )


features_job = dg.define_asset_job(
    name="features_job",
    selection=dg.AssetSelection.groups(FEATURES_GROUP),
    description="Apply the Feast repo and load the online store from the marts, then check its freshness.",
)

defs = dg.Definitions(assets=[online_features], asset_checks=[online_features_freshness], jobs=[features_job])
