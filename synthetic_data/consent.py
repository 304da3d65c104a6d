"""Consent events: grants at sign-up (or imported from the CRM), later withdrawals and re-grants.

The builder also returns each person's consent intervals so ``messages.py`` can send marketing only
while consent holds, except for the planted violations. A few persons grant and withdraw the same
purpose/channel within one second (withdrawal never earlier): their final state is "withdrawn".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .context import Chunk, Row, by_time, ts_text
from .identifiers import email_variant, phone_styles, phone_variant
from .people import Person
from .timefmt import MS_DAY, MS_SECOND, date_str

CONSENT_PHONE_STYLES = phone_styles(e164=0.7, intl=0.0, national=0.3, compact=0.0, odd=0.0)
# (purpose, channel, grant probability, what the person needs for the channel to make sense)
COMBOS = (
    ("marketing", "email", 0.55, "email"),
    ("marketing", "sms", 0.3, "phone"),
    ("marketing", "push", 0.5, "app"),
    ("marketing", "phone", 0.05, "phone"),
    ("personalisation", "email", 0.2, "email"),
    ("personalisation", "push", 0.25, "app"),
    ("analytics", "ads", 0.5, None),
    ("profiling", "ads", 0.2, None),
)
Interval = tuple[int, int | None]  # (granted_at, withdrawn_at or None)


@dataclass
class ConsentOut:
    rows: list[Row]
    intervals: dict[int, dict[tuple[str, str], list[Interval]]]  # person idx -> combo -> intervals
    same_second: list[dict[str, object]] = field(default_factory=list)


def policy_version(ms: int) -> str:
    """Policies are revised every January and July: '2025-01', '2025-07'."""
    year, month = date_str(ms)[:4], int(date_str(ms)[5:7])
    return f"{year}-{'01' if month < 7 else '07'}"


def _has(p: Person, need: str | None) -> bool:
    if need == "email":
        return p.email is not None
    if need == "phone":
        return p.phone_nsn is not None
    if need == "app":
        return p.app_device is not None or p.shared_device is not None
    return True


def build_consent(chunk: Chunk, persons: list[Person]) -> ConsentOut:
    rng = chunk.rng("consent")
    start, end = chunk.cfg.start_ms, chunk.cfg.end_ms
    out = ConsentOut([], {})
    for p in persons:
        if p.customer_ref is None and (p.loyalty_id is None or (p.email is None and p.phone_nsn is None)):
            continue  # nobody ever asked for consent, or it could not be recorded against anyone
        if p.preexisting:
            signup, source = start - rng.randint(1, 700) * MS_DAY - rng.randrange(MS_DAY), "crm"
        else:
            signup = p.first_seen + rng.randint(5, 600) * MS_SECOND
            source = "app" if p.app_share > p.web_share else ("store" if p.store_share > 0.5 else "web_form")
        forced = set()
        if p.over_messaged is not None:
            forced.add(("marketing", p.over_messaged[2]))
        if p.consent_violation:
            forced.add(("marketing", "email"))
        combos: dict[tuple[str, str], list[Interval]] = {}
        for purpose, channel, prob, need in COMBOS:
            key = (purpose, channel)
            if not _has(p, need) or (key not in forced and rng.random() >= prob):
                continue
            granted = signup + rng.randrange(2_000)
            intervals: list[Interval] = []
            _emit(chunk, rng, out.rows, p, purpose, channel, "granted", source, granted)
            t = granted
            while True:
                withdraw_p = 0.12
                earliest = t + MS_DAY
                if key == ("marketing", "email") and p.consent_violation:
                    withdraw_p = 1.0
                if p.over_messaged is not None and key == ("marketing", p.over_messaged[2]):
                    earliest = max(earliest, p.over_messaged[1])  # annoyed customers opt out after the spam
                    withdraw_p = 0.6
                if earliest >= end - MS_DAY or rng.random() >= withdraw_p:
                    intervals.append((t, None))
                    break
                w = earliest + int(rng.random() * min(end - MS_DAY - earliest, 120 * MS_DAY))
                intervals.append((t, w))
                src = rng.choice(("preference_center", "preference_center", "app", "web_form"))
                _emit(chunk, rng, out.rows, p, purpose, channel, "withdrawn", src, w)
                if p.consent_violation or rng.random() >= 0.15:
                    break
                t = w + rng.randint(7, 90) * MS_DAY  # changed their mind again
                if t >= end:
                    break
                _emit(chunk, rng, out.rows, p, purpose, channel, "granted", "preference_center", t)
            combos[key] = intervals
        if rng.random() < 0.004:
            _same_second(chunk, rng, out, p, combos, start, end)
        if combos:
            out.intervals[p.idx] = combos
    out.rows.sort(key=by_time)
    return out


def _same_second(
    chunk: Chunk,
    rng: random.Random,
    out: ConsentOut,
    p: Person,
    combos: dict[tuple[str, str], list[Interval]],
    start: int,
    end: int,
) -> None:
    """A grant and a withdrawal in the same second (double submit / racing UIs); withdrawal wins."""
    key = ("marketing", "sms") if ("marketing", "sms") not in combos and p.phone_nsn else ("analytics", "ads")
    if key in combos:
        return
    window = end - max(start, p.first_seen) - MS_DAY
    if window <= 0:
        return
    base = max(start, p.first_seen) + int(rng.random() * window)
    second = base // MS_SECOND * MS_SECOND
    g = second + rng.randrange(500)
    w = g if rng.random() < 0.5 else g + rng.randrange(1, 499)  # exact tie or a few ms later
    first = rng.random() < 0.5  # file order does not tell which came first
    if first:
        _emit(chunk, rng, out.rows, p, key[0], key[1], "granted", "preference_center", g)
    _emit(chunk, rng, out.rows, p, key[0], key[1], "withdrawn", "preference_center", w)
    if not first:
        _emit(chunk, rng, out.rows, p, key[0], key[1], "granted", "preference_center", g)
    combos[key] = [(g, w)]
    out.same_second.append(
        {"person_id": p.person_id, "purpose": key[0], "channel": key[1], "final_status": "withdrawn"}
    )


def _emit(
    chunk: Chunk,
    rng: random.Random,
    rows: list[Row],
    p: Person,
    purpose: str,
    channel: str,
    status: str,
    source: str,
    ms: int,
) -> None:
    cid = chunk.next_id("CNS")
    ref = p.customer_ref if p.customer_ref and rng.random() < 0.85 else None
    email = email_variant(p.email, rng, 0.2) if rng.random() < 0.75 else None
    phone = phone_variant(p, rng, CONSENT_PHONE_STYLES) if rng.random() < 0.35 else None
    if ref is None and email is None and phone is None:  # the contract requires naming the person
        if p.customer_ref:
            ref = p.customer_ref
        elif p.email:
            email = email_variant(p.email, rng, 0.2)
        else:
            phone = phone_variant(p, rng, CONSENT_PHONE_STYLES)
    data = {
        "consent_id": cid,
        "customer_ref": ref,
        "email": email,
        "phone": phone,
        "purpose": purpose,
        "channel": channel,
        "status": status,
        "source": source,
        "policy_version": policy_version(ms),
        "occurred_at": ts_text(ms, rng, 0.1 if p.country == "VN" else 0.0),
    }
    rows.append((ms, cid, p.person_id, data))
