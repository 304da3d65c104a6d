"""The landing-zone contract: the public interface of the platform, declared once as data.

Each source has a folder in the landing zone, accepted file formats, typed fields (required or optional, accepted
values) and row rules. Everything else derives from these declarations: the Spark parse schema, the validation
expressions, the bronze schema, the JSON Schema (``cdp contracts --json-schema``), the Great Expectations suites
and the README's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "int"
    DECIMAL = "decimal(18,2)"  # money: VND has no minor unit, USD has two
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # ISO-8601; an offset is honoured, a naive value is read as UTC
    DATE = "date"  # YYYY-MM-DD
    JSON = "json"  # an object kept losslessly as JSON text (Segment properties/traits/context)
    LINES = "lines"  # order or basket lines: a JSON array of {sku, category, quantity, unit_price}


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = FieldType.STRING
    required: bool = False
    accepted_values: tuple[str, ...] | None = None
    description: str = ""
    # Where the value lives in a nested record ("context.device.id"); by default the top-level key `name`.
    json_path: str | None = None


@dataclass(frozen=True)
class RowRule:
    """A condition every row must satisfy, as a Spark SQL boolean over the typed columns; failing rows are
    quarantined with ``message``. Rules are checked only on rows whose own fields parsed."""

    name: str
    condition: str
    message: str
    fields: tuple[str, ...] = ()  # the fields the rule is about, named in the quarantine reason


@dataclass(frozen=True)
class SourceContract:
    name: str
    description: str
    formats: tuple[FileFormat, ...]
    record_id: str  # the field that identifies a record of this source
    fields: tuple[Field, ...]
    rules: tuple[RowRule, ...] = ()
    dedupe_on: str | None = None  # deduplicated on this field across all time (events: messageId)

    @property
    def folder(self) -> str:
        return self.name

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def file_patterns(self) -> tuple[str, ...]:
        patterns = []
        for fmt in self.formats:
            patterns += [f"*.{fmt.value}", f"*.{fmt.value}.gz"]
        return tuple(patterns)

    def get(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _enum(
    name: str, values: str, *, required: bool = False, description: str = "", json_path: str | None = None
) -> Field:
    return Field(
        name, required=required, accepted_values=tuple(values.split()), description=description, json_path=json_path
    )


_TS = FieldType.TIMESTAMP
_CONTACT = (
    Field("customer_ref", description="The shop's customer key."),
    Field("email"),
    Field("phone", description="Any format; normalised to E.164 with the default region at identity resolution."),
)
_PURPOSES = "marketing personalisation analytics profiling"

EVENTS = SourceContract(
    name="events",
    description="Web and app events in the Segment spec (track, identify, page, screen, alias, group).",
    formats=(FileFormat.JSONL,),
    record_id="messageId",
    dedupe_on="messageId",
    fields=(
        _enum("type", "track identify page screen alias group", required=True),
        Field("messageId", required=True, description="Unique per message; duplicates are quarantined."),
        Field("anonymousId"),
        Field("userId"),
        Field("event", description="Track event name, e.g. 'Order Completed'."),
        Field("name", description="Page or screen name."),
        Field("previousId", description="Alias: the previous id."),
        Field("groupId", description="Group: the account id."),
        Field("properties", FieldType.JSON),
        Field("traits", FieldType.JSON),
        Field("context", FieldType.JSON, description="Kept whole; the fields below are extracted from it."),
        Field("context_ip", json_path="context.ip"),
        Field("context_user_agent", json_path="context.userAgent"),
        Field("context_device_id", json_path="context.device.id"),
        Field("context_locale", json_path="context.locale"),
        Field("context_timezone", json_path="context.timezone"),
        _enum("context_channel", "web app server", json_path="context.channel"),
        Field("timestamp", _TS, required=True, description="When the event happened (client clock, corrected)."),
        Field("sentAt", _TS),
        Field("receivedAt", _TS),
    ),
    rules=(
        RowRule(
            "identified",
            "userId is not null or anonymousId is not null",
            "every message needs a userId or an anonymousId",
            ("userId", "anonymousId"),
        ),
        RowRule("track_has_event", "type <> 'track' or event is not null", "a track message needs event", ("event",)),
        RowRule(
            "alias_has_previous",
            "type <> 'alias' or previousId is not null",
            "an alias message needs previousId",
            ("previousId",),
        ),
        RowRule(
            "group_has_group", "type <> 'group' or groupId is not null", "a group message needs groupId", ("groupId",)
        ),
    ),
)

CRM_CONTACTS = SourceContract(
    name="crm_contacts",
    description="Contacts exported from the CRM.",
    formats=(FileFormat.CSV,),
    record_id="contact_id",
    fields=(
        Field("contact_id", required=True),
        Field("first_name"),
        Field("last_name"),
        Field("email"),
        Field("phone"),
        Field("date_of_birth", FieldType.DATE),
        _enum("gender", "female male other unknown"),
        Field("address_line1"),
        Field("address_line2"),
        Field("city"),
        Field("postcode"),
        Field("state"),
        Field("country", description="ISO 3166 alpha-2 code or name."),
        Field("created_at", _TS),
        Field("updated_at", _TS, required=True, description="Latest version of a contact wins downstream."),
    ),
)

ORDERS = SourceContract(
    name="orders",
    description="Orders from the web shop, the app and stores, with their lines.",
    formats=(FileFormat.JSONL, FileFormat.CSV),
    record_id="order_id",
    fields=(
        Field("order_id", required=True),
        *_CONTACT,
        _enum("channel", "web app store", required=True),
        Field("store_id"),
        Field("ordered_at", _TS, required=True),
        _enum("status", "placed paid shipped delivered cancelled returned refunded", required=True),
        _enum("currency", "VND USD EUR GBP SGD AUD", required=True),
        Field("total_amount", FieldType.DECIMAL, required=True, description="Negative or zero for refunds."),
        Field("promised_delivery_at", _TS),
        Field("delivered_at", _TS),
        Field("returned_store_id", description="Store where an online order was returned."),
        Field("lines", FieldType.LINES, description="JSON array of {sku, category, quantity, unit_price}."),
    ),
)

POS_TRANSACTIONS = SourceContract(
    name="pos_transactions",
    description="Point-of-sale transactions from the stores.",
    formats=(FileFormat.CSV,),
    record_id="transaction_id",
    fields=(
        Field("transaction_id", required=True),
        Field("store_id", required=True),
        Field("loyalty_card_id"),
        Field("phone"),
        Field("occurred_at", _TS, required=True),
        Field("amount", FieldType.DECIMAL, required=True),
        _enum("currency", "VND USD EUR GBP SGD AUD"),
        Field("items", FieldType.LINES, description="JSON array of {sku, category, quantity, unit_price}."),
    ),
)

SUPPORT_TICKETS = SourceContract(
    name="support_tickets",
    description="Support tickets from every contact channel, the bot included.",
    formats=(FileFormat.JSONL,),
    record_id="ticket_id",
    fields=(
        Field("ticket_id", required=True),
        *_CONTACT,
        _enum("channel", "chat bot phone email store", required=True),
        Field("opened_at", _TS, required=True),
        Field("first_response_at", _TS),
        Field("resolved_at", _TS, description="Null while the ticket is open."),
        Field("contact_count", FieldType.INTEGER),
        Field("escalated_to_human", FieldType.BOOLEAN),
        Field("subject"),
        Field("body"),
        _enum("language", "en vi"),
        Field("order_id"),
    ),
    rules=(
        RowRule(
            "contact_count_positive",
            "contact_count is null or contact_count >= 1",
            "contact_count must be at least 1",
            ("contact_count",),
        ),
    ),
)

SURVEY_RESPONSES = SourceContract(
    name="survey_responses",
    description="NPS (0-10), CSAT (1-5) and CES (1-7) survey answers with their comments.",
    formats=(FileFormat.CSV,),
    record_id="response_id",
    fields=(
        Field("response_id", required=True),
        _enum("survey_type", "NPS CSAT CES", required=True),
        Field("score", FieldType.INTEGER, required=True),
        Field("comment"),
        *_CONTACT,
        Field("touchpoint", description="e.g. delivery, support, store_visit, checkout."),
        _enum("channel", "web app store email sms phone chat bot"),
        Field("store_id"),
        Field("responded_at", _TS, required=True),
        _enum("language", "en vi"),
        Field("order_id"),
        Field("ticket_id"),
    ),
    rules=(
        # Out-of-range scores are quarantined, never clamped: a 0 on a 1-5 scale is a broken survey, not a detractor.
        RowRule(
            "score_in_range",
            "(survey_type = 'NPS' and score between 0 and 10) or (survey_type = 'CSAT' and score between 1 and 5)"
            " or (survey_type = 'CES' and score between 1 and 7)",
            "score out of range for the survey type (NPS 0-10, CSAT 1-5, CES 1-7)",
            ("score",),
        ),
    ),
)

CONSENT_EVENTS = SourceContract(
    name="consent_events",
    description="Consent grants and withdrawals per purpose and channel.",
    formats=(FileFormat.JSONL,),
    record_id="consent_id",
    fields=(
        Field("consent_id", required=True),
        *_CONTACT,
        _enum("purpose", _PURPOSES, required=True),
        _enum("channel", "email sms push phone ads", required=True),
        _enum("status", "granted withdrawn", required=True),
        Field("source", description="Where consent was captured: web_form, app, store, crm, preference_center."),
        Field("policy_version"),
        Field("occurred_at", _TS, required=True),
    ),
    rules=(
        RowRule(
            "identified",
            "customer_ref is not null or email is not null or phone is not null",
            "a consent event must name the person (customer_ref, email or phone)",
            ("customer_ref", "email", "phone"),
        ),
    ),
)

MESSAGES_SENT = SourceContract(
    name="messages_sent",
    description="Messages already sent by other tools (contact history for frequency caps).",
    formats=(FileFormat.CSV,),
    record_id="message_id",
    fields=(
        Field("message_id", required=True),
        Field("campaign_id"),
        _enum("channel", "email sms push phone ads", required=True),
        Field("recipient", required=True, description="Email, phone or device id."),
        Field("sent_at", _TS, required=True),
        _enum("purpose", _PURPOSES + " transactional service", required=True),
    ),
)

SOURCES: dict[str, SourceContract] = {
    c.name: c
    for c in (
        EVENTS,
        CRM_CONTACTS,
        ORDERS,
        POS_TRANSACTIONS,
        SUPPORT_TICKETS,
        SURVEY_RESPONSES,
        CONSENT_EVENTS,
        MESSAGES_SENT,
    )
}

LINE_FIELDS: tuple[Field, ...] = (
    Field("sku", required=True),
    Field("category"),
    Field("quantity", FieldType.INTEGER, required=True),
    Field("unit_price", FieldType.DECIMAL, required=True),
)


def get_source(name: str) -> SourceContract:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; the sources are: {', '.join(SOURCES)}") from None


def json_schema(contract: SourceContract) -> dict[str, Any]:
    """The contract as JSON Schema (draft 2020-12), for producers that validate before they drop a file."""
    json_types: dict[FieldType, dict[str, Any]] = {
        FieldType.INTEGER: {"type": ["integer", "string"]},
        FieldType.DECIMAL: {"type": ["number", "string"]},
        FieldType.BOOLEAN: {"type": ["boolean", "string"]},
        FieldType.TIMESTAMP: {"type": "string", "format": "date-time"},
        FieldType.DATE: {"type": "string", "format": "date"},
        FieldType.JSON: {"type": ["object", "string"]},
        FieldType.LINES: {"type": ["array", "string"]},
    }
    properties: dict[str, dict[str, Any]] = {}
    for f in contract.fields:
        if f.json_path:
            continue  # extracted from its parent object, not a key of its own
        spec: dict[str, Any] = dict(json_types.get(f.type, {"type": "string"}))
        if f.accepted_values:
            spec["enum"] = list(f.accepted_values)
        if not f.required:
            spec["type"] = [*([spec["type"]] if isinstance(spec["type"], str) else spec["type"]), "null"]
        if f.description:
            spec["description"] = f.description
        properties[f.name] = spec
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": contract.name,
        "description": contract.description,
        "type": "object",
        "required": list(contract.required_fields),
        "properties": properties,
    }


def markdown(contract: SourceContract) -> str:
    """The contract as a Markdown table, as shown in the README (a test keeps the README in step with this)."""
    lines = [
        f"#### `{contract.folder}/` ({', '.join(f'`{p}`' for p in contract.file_patterns)})",
        "",
        contract.description
        + (f" Deduplicated on `{contract.dedupe_on}` across all time." if contract.dedupe_on else ""),
        "",
        "| field | type | required | accepted values | notes |",
        "|---|---|---|---|---|",
    ]
    for f in contract.fields:
        name = f"`{f.name}`" + (f" (from `{f.json_path}`)" if f.json_path else "")
        values = ", ".join(f.accepted_values or ())
        lines.append(f"| {name} | {f.type.value} | {'yes' if f.required else ''} | {values} | {f.description} |")
    for rule in contract.rules:
        lines.append(f"| *rule* `{rule.name}` | | | | {rule.message} |")
    return "\n".join(lines)
