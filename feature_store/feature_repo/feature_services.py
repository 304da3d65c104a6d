"""Feature services: versioned sets of features that a model or an application asks for by name.

A service's name is a contract: change its features by adding ``_v2``, never by editing ``_v1`` in place, so a model
trained on ``churn_v1`` keeps reading exactly what it was trained on.
"""

from __future__ import annotations

from feast import FeatureService

from feature_store.feature_repo.feature_views import CustomerViews


def feature_services(views: CustomerViews) -> list[FeatureService]:
    personalisation_v1 = FeatureService(
        name="personalisation_v1",
        features=[
            views.rfm[["value_segment", "rfm_score", "recency_days", "frequency"]],
            views.preferences,
            views.clv[["p_alive", "expected_value_365d"]],
            views.churn,
            views.cx[["nps_category", "is_recent_detractor", "open_cases"]],
            views.consent[[f"consent_personalisation_{c}" for c in ("email", "sms", "push", "phone", "ads")]],
            views.contact_pressure[
                ["messages_email_7d", "messages_sms_7d", "messages_push_7d", "marketing_messages_30d"]
            ],
            views.audiences,
        ],
        description="What a page, app or agent needs to personalise for one customer, without PII.",
        tags={"version": "1", "use": "online"},
    )
    churn_v1 = FeatureService(
        name="churn_v1",
        features=[views.rfm, views.clv, views.cx, views.contact_pressure, views.preferences[["preferred_channel"]]],
        description="Inputs of the churn model: RFM, CLV, CX and contact pressure (no consent, no PII).",
        tags={"version": "1", "use": "training"},
    )
    return [personalisation_v1, churn_v1]
