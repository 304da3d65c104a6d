"""Builds every source's rows for one chunk of persons: a pure function of (run config, chunk index).

Order matters only for data dependencies (orders before the events, tickets, surveys and messages
that refer to them); each builder has its own RNG stream, so none perturbs another.
"""

from __future__ import annotations

from dataclasses import dataclass

from .commerce import build_commerce
from .consent import build_consent
from .context import Chunk, Row, RunConfig
from .crm import build_crm
from .events import build_events
from .messages import build_messages
from .people import Household, Person, make_persons, make_pools
from .support import build_tickets
from .surveys import build_surveys


@dataclass
class ChunkOut:
    persons: list[Person]
    households: list[Household]
    rows: dict[str, list[Row]]  # source name -> rows, sorted by time within the chunk
    test_events: int
    store_phone_rows: int
    duplicate_contacts: int
    same_second_consent: list[dict[str, object]]
    over_messaged: list[dict[str, object]]
    consent_violations: list[dict[str, object]]


def build_chunk(cfg: RunConfig, index: int, first_idx: int, count: int) -> ChunkOut:
    pools = make_pools(cfg.seed)
    chunk = Chunk(cfg, index, first_idx, count)
    persons, households = make_persons(
        chunk.rng("people"), pools, cfg.ids, cfg.reference, first_idx, count, cfg.start_ms, cfg.end_ms
    )
    commerce = build_commerce(chunk, persons)
    events, test_events = build_events(chunk, persons, commerce.order_facts)
    tickets, ticket_facts = build_tickets(chunk, persons, commerce.order_facts)
    surveys = build_surveys(chunk, persons, commerce.order_facts, ticket_facts, commerce.pos_facts)
    consent = build_consent(chunk, persons)
    messages = build_messages(chunk, persons, consent.intervals, commerce.order_facts)
    crm, duplicate_contacts = build_crm(chunk, persons)
    return ChunkOut(
        persons=persons,
        households=households,
        rows={
            "events": events,
            "crm_contacts": crm,
            "orders": commerce.orders,
            "pos_transactions": commerce.pos,
            "support_tickets": tickets,
            "survey_responses": surveys,
            "consent_events": consent.rows,
            "messages_sent": messages.rows,
        },
        test_events=test_events,
        store_phone_rows=commerce.store_phone_rows,
        duplicate_contacts=duplicate_contacts,
        same_second_consent=consent.same_second,
        over_messaged=messages.over_messaged,
        consent_violations=messages.violations,
    )
