"""Outbound messages: marketing campaigns (only while consent holds), transactional order mails/SMS,
the planted over-messaged customers (a daily promotion for weeks) and a few consent violations
(marketing e-mails sent after the person withdrew).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from .commerce import OrderFact
from .consent import Interval
from .context import Chunk, Row, by_time, ts_text
from .identifiers import format_phone
from .people import Person
from .timefmt import MS_DAY, MS_HOUR, MS_MINUTE


@dataclass
class MessagesOut:
    rows: list[Row]
    over_messaged: list[dict[str, object]] = field(default_factory=list)
    violations: list[dict[str, object]] = field(default_factory=list)


def build_messages(
    chunk: Chunk,
    persons: list[Person],
    consent: dict[int, dict[tuple[str, str], list[Interval]]],
    orders: dict[int, list[OrderFact]],
) -> MessagesOut:
    rng = chunk.rng("messages")
    ref = chunk.cfg.reference
    end = chunk.cfg.end_ms
    by_channel = {ch: [c for c in ref.campaigns if c.channel == ch] for ch in ("email", "sms", "push")}
    times = {ch: [c.sent_ms for c in cs] for ch, cs in by_channel.items()}
    out = MessagesOut([])
    rows = out.rows

    def send(p: Person, campaign_id: str, channel: str, recipient: str, ms: int, purpose: str) -> str:
        mid = chunk.next_id("MSG")
        rows.append((ms, mid, p.person_id, [mid, campaign_id, channel, recipient, ts_text(ms, rng, 0.0), purpose]))
        return mid

    def recipient(p: Person, channel: str) -> str | None:
        if channel == "email":
            return p.email
        if channel == "sms":
            if p.phone_nsn is None or p.phone_cc is None:
                return None
            # SMS gateways want E.164, but one legacy gateway stores digits only
            return format_phone(p.phone_cc, p.phone_nsn, "e164" if rng.random() < 0.85 else "compact", rng)
        device = p.app_device or p.shared_device
        return device.device_id if device is not None else None

    for p in persons:
        combos = consent.get(p.idx, {})
        for channel in ("email", "sms", "push"):
            intervals = combos.get(("marketing", channel))
            if not intervals:
                continue
            to = recipient(p, channel)
            if to is None:
                continue
            camps, ts = by_channel[channel], times[channel]
            for granted, withdrawn in intervals:
                lo, hi = (
                    bisect_left(ts, granted),
                    bisect_left(ts, withdrawn if withdrawn is not None else end),
                )
                for c in camps[lo:hi]:
                    if rng.random() < c.reach:
                        send(
                            p,
                            c.campaign_id,
                            channel,
                            to,
                            c.sent_ms + rng.randrange(40 * MS_MINUTE),
                            "marketing",
                        )
            if p.consent_violation and channel == "email":
                withdrawn = intervals[-1][1]
                later = [c for c in camps if withdrawn is not None and c.sent_ms > withdrawn]
                ids = [
                    send(p, c.campaign_id, channel, to, c.sent_ms + rng.randrange(40 * MS_MINUTE), "marketing")
                    for c in later[: rng.randint(1, 3)]
                ]
                if ids:
                    out.violations.append({"person_id": p.person_id, "channel": channel, "message_ids": ids})
        if p.over_messaged is not None:
            frm, to_ms, channel = p.over_messaged
            to = recipient(p, channel)
            if to is not None:
                n = 0
                day = frm // MS_DAY + 1
                while day * MS_DAY < min(to_ms, end):
                    ms = day * MS_DAY + 2 * MS_HOUR + rng.randrange(20 * MS_MINUTE)  # every morning, 9am VN
                    send(p, ref.daily_campaign_id, channel, to, ms, "marketing")
                    n += 1
                    day += 1
                if n:
                    out.over_messaged.append({"person_id": p.person_id, "channel": channel, "messages": n})
        for o in orders.get(p.idx, []):
            confirm_ms = o.ts + rng.randint(20, 180) * 1000
            if o.email and confirm_ms < end:
                send(p, "TXN-ORDER-CONFIRMATION", "email", o.email.strip(), confirm_ms, "transactional")
            if o.status in ("shipped", "delivered", "returned", "refunded") and p.phone_nsn and p.phone_cc:
                ms = o.ts + rng.randint(12, 40) * MS_HOUR
                if ms < end:
                    send(
                        p,
                        "TXN-SHIPPING-UPDATE",
                        "sms",
                        format_phone(p.phone_cc, p.phone_nsn, "e164", rng),
                        ms,
                        "transactional",
                    )
    rows.sort(key=by_time)
    return out
