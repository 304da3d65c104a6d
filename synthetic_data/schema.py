"""What the generator writes per source (folder, file extension) and the value sets it draws from.

Field names and record ids come from the landing contract in ``ingest/contracts.py``: the one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.contracts import get_source


@dataclass(frozen=True)
class SourceSpec:
    """How the generator writes one source. Its fields and record id are the landing contract's
    (``ingest/contracts.py``), so generated files and the ingest can never disagree about column names."""

    name: str  # folder under out_dir, also the `source` value in the ground truth
    ext: str  # part-00000.<ext>

    @property
    def fields(self) -> tuple[str, ...]:
        """CSV header / JSONL key order (events carry only the keys of their message type)."""
        return tuple(f.name for f in get_source(self.name).fields if not f.json_path)

    @property
    def id_field(self) -> str:
        """The record id written to record_truth.csv.gz."""
        return get_source(self.name).record_id

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

EVENTS = SourceSpec("events", "jsonl.gz")
CRM_CONTACTS = SourceSpec("crm_contacts", "csv")
ORDERS = SourceSpec("orders", "jsonl")
POS_TRANSACTIONS = SourceSpec("pos_transactions", "csv")
SUPPORT_TICKETS = SourceSpec("support_tickets", "jsonl")
SURVEY_RESPONSES = SourceSpec("survey_responses", "csv")
CONSENT_EVENTS = SourceSpec("consent_events", "jsonl")
MESSAGES_SENT = SourceSpec("messages_sent", "csv")

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
