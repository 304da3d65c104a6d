"""Support tickets, mostly caused by orders: late deliveries, returns, refunds, cancellations.

A ticket's wait time (first_response_at - opened_at) depends on the channel, and first-contact
resolution (contact_count == 1) gets less likely the later the delivery. Both feed the planted
NPS model in ``surveys.py``; text tone follows the same experience.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .commerce import OrderFact
from .context import Chunk, Row, by_time, ts_text
from .identifiers import email_variant, phone_styles, phone_variant
from .people import Person
from .rng import poisson
from .text import ticket_text
from .timefmt import MS_DAY, MS_HOUR, MS_MINUTE, iso_z

TICKET_PHONE_STYLES = phone_styles(e164=0.2, intl=0.3, national=0.4, compact=0.0, odd=0.1)
CHANNELS = (("chat", 0.3), ("bot", 0.2), ("phone", 0.2), ("email", 0.2), ("store", 0.1))
# median wait in minutes per channel (log-normal, sigma 0.8)
WAIT_MEDIAN_MIN = {"chat": 4.0, "bot": 0.5, "phone": 7.0, "email": 45.0, "store": 3.0}


@dataclass(slots=True)
class TicketFact:
    ticket_id: str
    person: Person
    order: OrderFact | None
    opened: int
    first_response: int
    resolved: int | None
    contact_count: int

    @property
    def wait_minutes(self) -> float:
        return (self.first_response - self.opened) / MS_MINUTE

    @property
    def fcr(self) -> bool:
        return self.contact_count == 1


def _channel(rng: random.Random, p: Person) -> str:
    r = rng.random()
    acc = 0.0
    for name, w in CHANNELS:
        acc += w
        if r < acc:
            if name == "store" and p.store_share == 0:
                return "chat"
            return name
    return "email"


def _ticket_for_order(rng: random.Random, o: OrderFact) -> tuple[str, int] | None:
    """(topic, opened_at) if this order makes the customer contact support."""
    delay = o.delay_days
    if o.status == "returned":
        return ("return", (o.delivered or o.ts) + rng.randint(1, 5) * MS_DAY) if rng.random() < 0.45 else None
    if o.status == "refunded":
        return ("refund", (o.delivered or o.ts) + rng.randint(2, 10) * MS_DAY) if rng.random() < 0.5 else None
    if o.status == "cancelled":
        return ("refund", o.ts + rng.randint(2, 72) * MS_HOUR) if rng.random() < 0.25 else None
    if delay > 0 and o.promised is not None and rng.random() < min(0.6, 0.1 + 0.12 * delay):
        # "where is my order?" opened after the promised date has passed
        return "where", o.promised + int(rng.random() * min(delay, 3.0) * MS_DAY) + MS_HOUR
    if rng.random() < 0.02:
        return "general", o.ts + rng.randint(1, 96) * MS_HOUR
    return None


def build_tickets(
    chunk: Chunk, persons: list[Person], orders: dict[int, list[OrderFact]]
) -> tuple[list[Row], dict[int, list[TicketFact]]]:
    rng = chunk.rng("support")
    end = chunk.cfg.end_ms
    rows: list[Row] = []
    facts: dict[int, list[TicketFact]] = {}
    for p in persons:
        todo: list[tuple[str, int, OrderFact | None]] = []
        for o in orders.get(p.idx, []):
            hit = _ticket_for_order(rng, o)
            if hit is not None:
                todo.append((hit[0], hit[1], o))
        if rng.random() < 0.03:  # account / promotion questions with no order
            todo.append(("general", p.first_seen + int(rng.random() * (p.end - p.first_seen)), None))
        for topic, opened, order in todo:
            if opened >= end:
                continue
            fact, row = _ticket(chunk, rng, p, topic, opened, order, end)
            rows.append(row)
            facts.setdefault(p.idx, []).append(fact)
    rows.sort(key=by_time)
    return rows, facts


def _ticket(
    chunk: Chunk, rng: random.Random, p: Person, topic: str, opened: int, o: OrderFact | None, end: int
) -> tuple[TicketFact, Row]:
    channel = _channel(rng, p)
    delay = o.delay_days if o is not None else 0.0
    escalated = False
    median = WAIT_MEDIAN_MIN[channel]
    if channel == "bot":
        escalated = rng.random() < 0.4
        if escalated:
            median = 9.0  # waiting for a human agent after the bot gives up
    elif channel == "chat":
        escalated = rng.random() < 0.1
    wait_min = min(720.0, math.exp(math.log(median) + 0.8 * rng.gauss(0, 1)))
    first_response = opened + int(wait_min * MS_MINUTE)
    p_fcr = max(0.25, 0.7 - 0.06 * delay - (0.15 if topic == "refund" else 0.0))
    contact_count = 1 if rng.random() < p_fcr else 2 + poisson(rng, 1.0)
    handling = contact_count * math.exp(math.log(5 * MS_HOUR) + 0.9 * rng.gauss(0, 1))
    resolved: int | None = first_response + int(handling)
    if resolved is not None and (resolved > end or rng.random() < 0.03):
        resolved = None  # still open at the end of the period
    tid = chunk.next_id("TCK")
    if contact_count >= 3 or delay > 4:
        tone = "angry" if rng.random() < 0.6 else "negative"
    elif delay > 0 or contact_count > 1 or topic in ("return", "refund"):
        tone = "negative" if rng.random() < 0.7 else "neutral"
    else:
        tone = "neutral"
    lang = p.lang if rng.random() < 0.95 else ("en" if p.lang == "vi" else "vi")
    subject, body = ticket_text(rng, topic, tone, lang, o.order_id if o else None, max(1, round(delay)), contact_count)
    email = None
    if channel == "email" or rng.random() < 0.8:
        email = email_variant(p.email or p.family_email or p.email2, rng, 0.3)
    phone = phone_variant(p, rng, TICKET_PHONE_STYLES) if channel == "phone" or rng.random() < 0.3 else None
    data = {
        "ticket_id": tid,
        "customer_ref": p.customer_ref if p.customer_ref and rng.random() < 0.7 else None,
        "email": email,
        "phone": phone,
        "channel": channel,
        "opened_at": ts_text(opened, rng, 0.15 if p.country == "VN" else 0.0),
        "first_response_at": iso_z(first_response),
        "resolved_at": iso_z(resolved) if resolved is not None else None,
        "contact_count": contact_count,
        "escalated_to_human": escalated,
        "subject": subject,
        "body": body,
        "language": lang,
        "order_id": o.order_id if o is not None else None,
    }
    fact = TicketFact(tid, p, o, opened, first_response, resolved, contact_count)
    return fact, (opened, tid, p.person_id, data)
