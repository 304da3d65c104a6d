"""CRM contacts: hand-keyed master data, with diacritics, typos, missing birth dates and duplicates.

Most account holders and loyalty members have a contact; ~3% of contacts have a second record for
the same person (entered again later with another email or phone format, often without diacritics).
"""

from __future__ import annotations

import random

from .context import Chunk, Row, by_time, ts_text
from .identifiers import email_variant, name_variant, phone_styles, phone_variant, strip_diacritics
from .people import Person
from .reference import COUNTRIES, VN_CITIES
from .timefmt import MS_DAY, day_str

CRM_PHONE_STYLES = phone_styles(e164=0.1, intl=0.35, national=0.35, compact=0.05, odd=0.15)
_CITY_SPELLINGS = {c[0]: c[1] for c in VN_CITIES}


def _gender(rng: random.Random, g: str) -> str:
    r = rng.random()
    if r < 0.8:
        return g
    return "unknown" if r < 0.85 else ""


def _country(rng: random.Random, code: str) -> str:
    return code if rng.random() < 0.92 else rng.choice(COUNTRIES[code].names)


def _contact(chunk: Chunk, rng: random.Random, p: Person, created: int, duplicate: bool) -> Row:
    end = chunk.cfg.end_ms
    cid = chunk.next_id("CRM")
    first, last = name_variant(p, rng, strip_p=0.6 if duplicate else 0.3, typo_p=0.15 if duplicate else 0.05)
    if duplicate:
        email = p.email2 if p.email2 and rng.random() < 0.5 else email_variant(p.email, rng, 0.8)
        if email is None and rng.random() < 0.5:
            email = p.family_email
    else:
        email = email_variant(p.family_email if p.family_email and rng.random() < 0.4 else p.email, rng, 0.3)
    phone = phone_variant(p, rng, CRM_PHONE_STYLES) if rng.random() < 0.9 else None
    dob = day_str(p.dob) if p.dob is not None and rng.random() < (0.4 if duplicate else 0.7) else ""
    line1, line2, city, postcode, state = p.address
    if p.country == "VN":
        city = rng.choice(_CITY_SPELLINGS.get(city, (city,)))
        if rng.random() < 0.25:
            line1, line2, state = strip_diacritics(line1), strip_diacritics(line2), strip_diacritics(state)
    updated = created + int(rng.random() * max(0, end - created))
    data = [
        cid,
        first,
        last,
        email or "",
        phone or "",
        dob,
        _gender(rng, p.gender),
        line1,
        line2,
        city,
        postcode if rng.random() < 0.9 else "",
        state,
        _country(rng, p.country),
        ts_text(created, rng, 0.2 if p.country == "VN" else 0.0),
        ts_text(updated, rng, 0.2 if p.country == "VN" else 0.0),
    ]
    return (created, cid, p.person_id, data)


def build_crm(chunk: Chunk, persons: list[Person]) -> tuple[list[Row], int]:
    """Contacts for the chunk and how many of them are duplicates of another contact."""
    rng = chunk.rng("crm")
    start, end = chunk.cfg.start_ms, chunk.cfg.end_ms
    rows: list[Row] = []
    duplicates = 0
    for p in persons:
        if p.customer_ref is not None:
            in_crm = 0.92
        elif p.loyalty_id is not None:
            in_crm = 0.85
        else:
            in_crm = 0.25
        if rng.random() >= in_crm:
            continue
        if p.preexisting:
            created = start - rng.randint(20, 1_100) * MS_DAY - rng.randrange(MS_DAY)
        else:
            created = p.first_seen + rng.randrange(3 * MS_DAY)
        if created >= end:
            continue
        rows.append(_contact(chunk, rng, p, created, duplicate=False))
        if rng.random() < 0.03:
            later = created + rng.randint(10, 300) * MS_DAY
            if later < end:
                rows.append(_contact(chunk, rng, p, later, duplicate=True))
                duplicates += 1
    rows.sort(key=by_time)
    return rows, duplicates
