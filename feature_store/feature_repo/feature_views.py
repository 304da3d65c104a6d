"""Feature views: groups of customer features, each from one gold source, named for what they describe.

Column meanings are the marts' (dbt_project/models/marts/_marts.yml). Trait views have no time-to-live: a training
row gets the latest snapshot at or before its timestamp, however old (freshness is watched by the Dagster check on
materialisation instead). ``pii`` tags mark the views the profile API shows only to keys with the ``pii:read`` scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Array, Bool, FeastType, Float64, Int64, String

from feature_store.feature_repo.data_sources import LakeSources
from feature_store.feature_repo.entities import customer

CONSENT_PURPOSES = ("marketing", "personalisation", "analytics", "profiling")
CHANNELS = ("email", "sms", "push", "phone", "ads")
NO_TTL = timedelta(0)  # Feast: 0 = look back without limit


def _fields(*columns: tuple[str, FeastType]) -> list[Field]:
    return [Field(name=name, dtype=dtype) for name, dtype in columns]


@dataclass(frozen=True)
class CustomerViews:
    rfm: FeatureView
    preferences: FeatureView
    clv: FeatureView
    churn: FeatureView
    cx: FeatureView
    consent: FeatureView
    contact_pressure: FeatureView
    audiences: FeatureView
    profile: FeatureView

    def all(self) -> list[FeatureView]:
        return [
            self.rfm,
            self.preferences,
            self.clv,
            self.churn,
            self.cx,
            self.consent,
            self.contact_pressure,
            self.audiences,
            self.profile,
        ]


def feature_views(sources: LakeSources) -> CustomerViews:
    def traits(name: str, description: str, *columns: tuple[str, FeastType]) -> FeatureView:
        return FeatureView(
            name=name,
            entities=[customer],
            ttl=NO_TTL,
            schema=_fields(*columns),
            source=sources.trait_history,
            online=True,
            description=description,
            tags={"source": "gold.customer_trait_history"},
        )

    return CustomerViews(
        rfm=traits(
            "customer_rfm",
            "Recency, frequency and monetary value with their 1-5 scores and the named segment.",
            ("recency_days", Float64),
            ("frequency", Int64),
            ("monetary_value", Float64),
            ("net_amount", Float64),
            ("refund_count", Int64),
            ("r_score", Int64),
            ("f_score", Int64),
            ("m_score", Int64),
            ("rfm_score", String),
            ("value_segment", String),
            ("tenure_days", Float64),
        ),
        preferences=traits(
            "customer_preferences",
            "Preferred channel, store and category; age band and gender (no PII: no name, birth date or contact).",
            ("preferred_channel", String),
            ("preferred_store_id", String),
            ("preferred_category", String),
            ("age_band", String),
            ("gender", String),
        ),
        clv=traits(
            "customer_clv",
            "BG/NBD P(alive) and expected purchases, Gamma-Gamma expected value of the next 12 months.",
            ("p_alive", Float64),
            ("expected_purchases_90d", Float64),
            ("expected_purchases_365d", Float64),
            ("expected_value_365d", Float64),
        ),
        churn=traits(
            "customer_churn",
            "Churn risk (1 - P(alive)) and its band.",
            ("churn_risk", Float64),
            ("churn_risk_band", String),
        ),
        cx=traits(
            "customer_cx",
            "Customer experience: latest NPS and its category, recent detractor, mean CSAT and CES, open cases.",
            ("latest_nps", Int64),
            ("nps_category", String),
            ("is_recent_detractor", Bool),
            ("avg_csat", Float64),
            ("avg_ces", Float64),
            ("open_cases", Int64),
        ),
        consent=traits(
            "customer_consent",
            "Consent in force per purpose and channel (latest event wins; no event = false).",
            *[(f"consent_{p}_{c}", Bool) for p in CONSENT_PURPOSES for c in CHANNELS],
        ),
        contact_pressure=traits(
            "customer_contact_pressure",
            "Messages received per channel in the last 7 and 30 days, and marketing messages in the last 30 days.",
            *[(f"messages_{c}_{days}d", Int64) for c in CHANNELS for days in (7, 30)],
            ("marketing_messages_30d", Int64),
        ),
        audiences=FeatureView(
            name="customer_audiences",
            entities=[customer],
            ttl=NO_TTL,
            schema=_fields(
                ("audiences", Array(String)),
                ("holdout_audiences", Array(String)),
                ("audience_count", Int64),
            ),
            source=sources.audience_history,
            online=True,
            description="Audiences the customer is in (and those they are held out of), from each change on.",
            tags={"source": "gold.audience_memberships"},
        ),
        profile=FeatureView(
            name="customer_profile",
            entities=[customer],
            ttl=NO_TTL,
            schema=_fields(
                ("first_name", String),
                ("last_name", String),
                ("email", String),
                ("phone", String),
                ("city", String),
                ("state", String),
                ("country", String),
            ),
            source=sources.customers,
            online=True,
            description="The golden record's contact and name fields: PII, for the profile API only (no history).",
            tags={"source": "gold.customers", "pii": "true"},
        ),
    )
