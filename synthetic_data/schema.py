"""The landing-zone contract: source folders, file extensions and field names, in output order.

These names are what the ingest reads; change them only together with the ingest contract.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceSpec:
    name: str  # folder under out_dir, also the `source` value in the ground truth
    ext: str  # part-00000.<ext>
    id_field: str  # the record id written to record_truth.csv.gz
    fields: tuple[str, ...]  # CSV header / JSONL key order (events vary by message type)

    @property
    def is_csv(self) -> bool:
        return self.ext == "csv"


EVENT_TYPES = ("track", "identify", "page", "screen", "alias", "group")
TRACK_EVENTS = (
    "Product Viewed",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
)
GENDERS = ("female", "male", "other", "unknown")
ORDER_CHANNELS = ("web", "app", "store")
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned", "refunded")
CURRENCIES = ("VND", "USD")
TICKET_CHANNELS = ("chat", "bot", "phone", "email", "store")
SURVEY_TYPES = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}
TOUCHPOINTS = ("delivery", "support", "store_visit", "checkout")
SURVEY_CHANNELS = ("email", "sms", "app", "web", "store")
CONSENT_PURPOSES = ("marketing", "personalisation", "analytics", "profiling")
CONSENT_CHANNELS = ("email", "sms", "push", "phone", "ads")
CONSENT_STATUSES = ("granted", "withdrawn")
CONSENT_SOURCES = ("web_form", "app", "store", "crm", "preference_center")
MESSAGE_CHANNELS = ("email", "sms", "push")
MESSAGE_PURPOSES = ("marketing", "transactional")

EVENTS = SourceSpec(
    "events",
    "jsonl.gz",
    "messageId",
    (
        "type",
        "messageId",
        "anonymousId",
        "userId",
        "event",
        "name",
        "properties",
        "traits",
        "previousId",
        "groupId",
        "context",
        "timestamp",
        "sentAt",
        "receivedAt",
    ),
)
CRM_CONTACTS = SourceSpec(
    "crm_contacts",
    "csv",
    "contact_id",
    (
        "contact_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "gender",
        "address_line1",
        "address_line2",
        "city",
        "postcode",
        "state",
        "country",
        "created_at",
        "updated_at",
    ),
)
ORDERS = SourceSpec(
    "orders",
    "jsonl",
    "order_id",
    (
        "order_id",
        "customer_ref",
        "email",
        "phone",
        "channel",
        "store_id",
        "ordered_at",
        "status",
        "currency",
        "total_amount",
        "promised_delivery_at",
        "delivered_at",
        "returned_store_id",
        "lines",
    ),
)
POS_TRANSACTIONS = SourceSpec(
    "pos_transactions",
    "csv",
    "transaction_id",
    ("transaction_id", "store_id", "loyalty_card_id", "phone", "occurred_at", "amount", "currency", "items"),
)
SUPPORT_TICKETS = SourceSpec(
    "support_tickets",
    "jsonl",
    "ticket_id",
    (
        "ticket_id",
        "customer_ref",
        "email",
        "phone",
        "channel",
        "opened_at",
        "first_response_at",
        "resolved_at",
        "contact_count",
        "escalated_to_human",
        "subject",
        "body",
        "language",
        "order_id",
    ),
)
SURVEY_RESPONSES = SourceSpec(
    "survey_responses",
    "csv",
    "response_id",
    (
        "response_id",
        "survey_type",
        "score",
        "comment",
        "customer_ref",
        "email",
        "phone",
        "touchpoint",
        "channel",
        "store_id",
        "responded_at",
        "language",
        "order_id",
        "ticket_id",
    ),
)
CONSENT_EVENTS = SourceSpec(
    "consent_events",
    "jsonl",
    "consent_id",
    (
        "consent_id",
        "customer_ref",
        "email",
        "phone",
        "purpose",
        "channel",
        "status",
        "source",
        "policy_version",
        "occurred_at",
    ),
)
MESSAGES_SENT = SourceSpec(
    "messages_sent",
    "csv",
    "message_id",
    ("message_id", "campaign_id", "channel", "recipient", "sent_at", "purpose"),
)

# Output order of sources within each chunk (also the order of rows in record_truth.csv.gz).
SOURCES: tuple[SourceSpec, ...] = (
    EVENTS,
    CRM_CONTACTS,
    ORDERS,
    POS_TRANSACTIONS,
    SUPPORT_TICKETS,
    SURVEY_RESPONSES,
    CONSENT_EVENTS,
    MESSAGES_SENT,
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}

TRUTH_DIR = "_ground_truth"
