"""Survey responses (NPS / CSAT / CES) with planted, known drivers.

Scores are drawn from linear models in three features that an analyst can rebuild from the other
sources through the response's order_id / ticket_id:

* ``delay_days``   = max(0, delivered_at - promised_delivery_at) in days (0 without a delivered order)
* ``not_fcr``      = 1 if the linked ticket's contact_count > 1 else 0 (0 without a ticket)
* ``wait_minutes`` = (first_response_at - opened_at) of the linked ticket in minutes (0 without one)

score = round(base + b_delay*delay_days + b_fcr*not_fcr + b_wait*wait_minutes + N(0, noise_sd)),
clipped to the survey's scale. The coefficients below are written to planted.json.
"""

from __future__ import annotations

import math
import random

from .commerce import OrderFact, PosFact
from .context import Chunk, Row, by_time, ts_text
from .identifiers import email_variant, phone_styles, phone_variant
from .people import Person
from .support import TicketFact
from .text import survey_comment, tone_for_score
from .timefmt import MS_HOUR, MS_MINUTE

MODELS: dict[str, dict[str, float]] = {
    "NPS": {
        "base": 9.0,
        "delay_days": -0.8,
        "not_fcr": -1.5,
        "wait_minutes": -0.05,
        "noise_sd": 1.0,
        "min": 0,
        "max": 10,
    },
    "CSAT": {
        "base": 4.6,
        "delay_days": -0.35,
        "not_fcr": -0.8,
        "wait_minutes": -0.02,
        "noise_sd": 0.5,
        "min": 1,
        "max": 5,
    },
    "CES": {
        "base": 6.0,
        "delay_days": -0.2,
        "not_fcr": -1.0,
        "wait_minutes": -0.03,
        "noise_sd": 0.7,
        "min": 1,
        "max": 7,
    },
}
SURVEY_PHONE_STYLES = phone_styles(e164=0.6, intl=0.0, national=0.4, compact=0.0, odd=0.0)


def score(survey_type: str, delay_days: float, not_fcr: int, wait_minutes: float, rng: random.Random) -> int:
    m = MODELS[survey_type]
    x = (
        m["base"]
        + m["delay_days"] * delay_days
        + m["not_fcr"] * not_fcr
        + m["wait_minutes"] * wait_minutes
        + rng.gauss(0.0, m["noise_sd"])
    )
    return int(min(m["max"], max(m["min"], math.floor(x + 0.5))))


def build_surveys(
    chunk: Chunk,
    persons: list[Person],
    orders: dict[int, list[OrderFact]],
    tickets: dict[int, list[TicketFact]],
    pos: dict[int, list[PosFact]],
) -> list[Row]:
    rng = chunk.rng("surveys")
    end = chunk.cfg.end_ms
    rows: list[Row] = []

    def emit(
        p: Person,
        stype: str,
        touchpoint: str,
        channel: str,
        when: int,
        o: OrderFact | None,
        t: TicketFact | None,
        store_id: str | None,
    ) -> None:
        if when >= end:
            return
        delay = o.delay_days if o is not None else 0.0
        not_fcr = int(t is not None and not t.fcr)
        wait = t.wait_minutes if t is not None else 0.0
        value = score(stype, delay, not_fcr, wait, rng)
        lang = p.lang
        comment = survey_comment(rng, tone_for_score(value, stype), lang)
        rid = chunk.next_id("SR")
        data = [
            rid,
            stype,
            str(value),
            comment,
            (p.customer_ref or "") if rng.random() < 0.6 else "",
            (email_variant(p.email, rng, 0.25) or "") if rng.random() < 0.6 else "",
            (phone_variant(p, rng, SURVEY_PHONE_STYLES) or "") if rng.random() < 0.3 else "",
            touchpoint,
            channel,
            store_id or "",
            ts_text(when, rng, 0.1 if p.country == "VN" else 0.0),
            lang,
            o.order_id if o is not None else "",
            t.ticket_id if t is not None else "",
        ]
        rows.append((when, rid, p.person_id, data))

    for p in persons:
        by_order: dict[str, TicketFact] = {}
        for t in tickets.get(p.idx, []):
            if t.order is not None:
                by_order.setdefault(t.order.order_id, t)
        for o in orders.get(p.idx, []):
            if o.delivered is not None and rng.random() < 0.22:
                linked = by_order.get(o.order_id)
                after = o.delivered
                if linked is not None:
                    after = max(after, linked.resolved or linked.first_response)
                when = after + rng.randint(2, 48) * MS_HOUR
                emit(p, "NPS", "delivery", rng.choice(("email", "email", "sms", "app")), when, o, linked, None)
            elif o.channel != "store" and rng.random() < 0.05:
                when = o.ts + rng.randint(1, 30) * MS_MINUTE
                emit(p, "CES", "checkout", o.channel, when, o, None, None)
        for t in tickets.get(p.idx, []):
            if t.resolved is not None and rng.random() < 0.3:
                stype = "CSAT" if rng.random() < 0.5 else "NPS"
                when = t.resolved + rng.randint(5, 24 * 60) * MS_MINUTE
                # a ticket survey links the ticket's order (if any) so the delay is known too
                emit(p, stype, "support", rng.choice(("email", "sms", "app", "web")), when, t.order, t, None)
        for f in pos.get(p.idx, []):
            if rng.random() < 0.06:
                when = f.ts + rng.randint(10, 600) * MS_MINUTE
                emit(p, "CSAT", "store_visit", rng.choice(("store", "sms")), when, None, None, f.store_id)
    rows.sort(key=by_time)
    return rows
