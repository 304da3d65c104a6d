"""Purchases: web/app/store orders (orders source) and in-store till receipts (pos_transactions).

Purchase counts follow the person's segment (frequent / regular / one-off / browse-only), churners
buy nothing after ``churn_at``, and each online order gets a delivery promise and an actual delivery
whose delay later drives tickets and NPS. The returned ``OrderFact``/``PosFact`` objects are what the
other builders (events, tickets, surveys, messages) link to.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from dataclasses import dataclass

from .context import Chunk, Row, by_time, money, money_text, ts_text
from .identifiers import email_variant, phone_styles, phone_variant
from .people import Person
from .reference import STORE_PHONE_REUSE_STORE, Product, Reference
from .rng import poisson
from .timefmt import MS_DAY, MS_HOUR, MS_MINUTE, iso_z

ORDER_PHONE_STYLES = phone_styles(e164=0.2, intl=0.1, national=0.5, compact=0.08, odd=0.12)
POS_PHONE_STYLES = phone_styles(e164=0.02, intl=0.03, national=0.8, compact=0.1, odd=0.05)
PURCHASES = {"frequent": (2, 3.0), "regular": (1, 1.2), "one_off": (1, 0.0), "browser": (0, 0.0)}


@dataclass(slots=True)
class OrderFact:
    order_id: str
    person: Person
    channel: str  # web | app | store
    ts: int
    currency: str
    total: int  # minor units: dong or cents
    lines: list[tuple[Product, int, int]]  # (product, quantity, unit price in minor units)
    status: str
    promised: int | None
    delivered: int | None
    store_id: str | None
    tracked: bool  # an "Order Completed" event was captured (ad blockers drop some)
    email: str | None

    @property
    def delay_days(self) -> float:
        """Positive part of (delivered_at - promised_delivery_at) in days; 0 if not delivered."""
        if self.delivered is None or self.promised is None:
            return 0.0
        return max(0.0, (self.delivered - self.promised) / MS_DAY)


@dataclass(slots=True)
class PosFact:
    transaction_id: str
    person: Person
    ts: int
    store_id: str


@dataclass
class CommerceOut:
    orders: list[Row]
    pos: list[Row]
    order_facts: dict[int, list[OrderFact]]  # person idx -> orders in time order
    pos_facts: dict[int, list[PosFact]]
    store_phone_rows: int


def _pick_lines(rng: random.Random, ref: Reference, p: Person) -> list[tuple[Product, int, int]]:
    n = 1 if rng.random() < 0.6 else (2 if rng.random() < 0.75 else 3)
    lines = []
    for _ in range(n):
        if rng.random() < 0.5:
            prod = rng.choice(ref.by_category[p.fav_category])
        else:
            prod = ref.catalog[bisect(ref.catalog_cum_weights, rng.random() * ref.catalog_cum_weights[-1])]
        qty = 1 if rng.random() < 0.8 else (2 if rng.random() < 0.75 else 3)
        price = prod.price_vnd if p.currency == "VND" else prod.price_usd_cents
        lines.append((prod, qty, price))
    return lines


def line_dicts(lines: list[tuple[Product, int, int]], currency: str) -> list[dict[str, object]]:
    return [
        {"sku": prod.sku, "category": prod.category, "quantity": qty, "unit_price": money(price, currency)}
        for prod, qty, price in lines
    ]


def _purchase_times(rng: random.Random, p: Person) -> list[int]:
    base, lam = PURCHASES[p.segment]
    n = base + poisson(rng, lam)
    if p.churn_at is not None:
        n = max(n, 2)  # a churner was a repeat buyer before stopping
    stop = _stop(p)
    window = stop - p.first_seen
    if n == 0 or window <= MS_DAY:
        return []
    out = []
    for _ in range(n):
        t = p.first_seen + int(rng.random() * window)
        if p.country == "VN":  # shoppers are awake 08:00-23:00 local (01:00-16:00 UTC)
            t = t // MS_DAY * MS_DAY + MS_HOUR + int(rng.random() * 15 * MS_HOUR)
        out.append(_clamp(t, p))
    out.sort()
    return out


def _stop(p: Person) -> int:
    return p.churn_at if p.churn_at is not None else p.end


def _clamp(t: int, p: Person) -> int:
    """Keep shifted times inside the person's active window (churners never buy after churn_at)."""
    return min(max(t, p.first_seen), _stop(p) - 1)


def _channel(rng: random.Random, p: Person) -> str:
    r = rng.random() * (p.web_share + p.app_share + p.store_share)
    if r < p.web_share:
        return "web"
    return "app" if r < p.web_share + p.app_share else "store"


def _email_for(rng: random.Random, p: Person, secondary: bool) -> str | None:
    if secondary and p.email2:
        return email_variant(p.email2, rng, 0.2)
    if p.family_email and rng.random() < 0.6:
        return email_variant(p.family_email, rng, 0.2)
    return email_variant(p.email, rng, 0.3)


def _fulfil(rng: random.Random, o: OrderFact, end: int, ref: Reference) -> str | None:
    """Sets status/promise/delivery; returns a returned_store_id for online orders returned in a store."""
    p = o.person
    if o.channel == "store":
        r = rng.random()
        o.status = "paid" if r < 0.86 else ("returned" if r < 0.92 else ("refunded" if r < 0.96 else "cancelled"))
        return o.store_id if o.status == "returned" else None
    vn = p.country == "VN"
    lead_days = rng.randint(2, 4) if vn else rng.randint(6, 12)
    # promised for the evening (20:00 Vietnam time) of the promised day
    promised_day = (o.ts + lead_days * MS_DAY) // MS_DAY
    o.promised = promised_day * MS_DAY + 13 * MS_HOUR
    if rng.random() < (0.32 if vn else 0.42):
        delay = min(14.0, 0.1 + rng.expovariate(1 / (1.8 if vn else 3.0)))
        delivered = o.promised + int(delay * MS_DAY)
    else:
        delivered = o.promised - int(rng.random() * 30 * MS_HOUR)
    delivered = max(delivered, o.ts + 6 * MS_HOUR)
    age = end - o.ts
    if age < 6 * MS_HOUR:
        o.status = "placed" if rng.random() < 0.4 else "paid"
        return None
    if rng.random() < 0.04:
        o.status = "cancelled"
        return None
    if delivered > end:
        o.status = "shipped" if end - o.ts > MS_DAY else "paid"
        return None
    o.delivered = delivered
    r = rng.random()
    if r < 0.05:
        o.status = "returned"
        if vn and ref.home == "VN" and rng.random() < 0.4:  # bought online, returned in a store
            return ref.stores[p.home_store].store_id
        return None
    o.status = "refunded" if r < 0.08 else "delivered"
    return None


def build_commerce(chunk: Chunk, persons: list[Person]) -> CommerceOut:
    rng = chunk.rng("commerce")
    ref = chunk.cfg.reference
    end = chunk.cfg.end_ms
    reuse_store = STORE_PHONE_REUSE_STORE.get(ref.home)
    store_phone = next((s.phone_national for s in ref.stores if s.store_id == reuse_store), None)
    orders: list[Row] = []
    pos: list[Row] = []
    order_facts: dict[int, list[OrderFact]] = {}
    pos_facts: dict[int, list[PosFact]] = {}
    store_phone_rows = 0
    for p in persons:
        facts: list[OrderFact] = []
        for ts in _purchase_times(rng, p):
            channel = _channel(rng, p)
            if p.customer_ref is None and p.email is None and p.family_email is None:
                channel = "store"  # no account and no email: cannot check out online, buys in a store
            lines = _pick_lines(rng, ref, p)
            total = sum(q * price for _, q, price in lines)
            store = ref.stores[p.home_store if rng.random() < 0.8 else rng.randrange(len(ref.stores))]
            if channel == "store" and rng.random() < 0.8:
                # walk-in purchase rung up on the till: goes to pos_transactions only
                ts = _clamp(_store_hours(rng, ts), p)
                if ts >= end:
                    continue
                tid = chunk.next_id("POS")
                loyalty = p.loyalty_id if p.loyalty_id and rng.random() < 0.85 else ""
                phone = ""
                if rng.random() < (0.3 if loyalty else 0.6):
                    phone = phone_variant(p, rng, POS_PHONE_STYLES) or ""
                if not loyalty and not phone and store.store_id == reuse_store and rng.random() < 0.5:
                    phone = store_phone or ""  # cashier types the store's own number
                    store_phone_rows += 1
                currency = "VND" if ref.home == "VN" else "USD"
                amount = sum(q * (pr.price_vnd if currency == "VND" else pr.price_usd_cents) for pr, q, _ in lines)
                items = json.dumps(
                    [
                        {
                            "sku": pr.sku,
                            "category": pr.category,
                            "quantity": q,
                            "unit_price": money(pr.price_vnd if currency == "VND" else pr.price_usd_cents, currency),
                        }
                        for pr, q, _ in lines
                    ],
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
                data = [
                    tid,
                    store.store_id,
                    loyalty,
                    phone,
                    ts_text(ts, rng, 0.35 if ref.home == "VN" else 0.0),
                    money_text(amount, currency),
                    currency,
                    items,
                ]
                pos.append((ts, tid, p.person_id, data))
                pos_facts.setdefault(p.idx, []).append(PosFact(tid, p, ts, store.store_id))
                continue
            if channel == "store":
                ts = _clamp(_store_hours(rng, ts), p)
                if ts >= end:
                    continue
            secondary = p.customer_ref2 is not None and rng.random() < 0.3
            guest = p.customer_ref is None
            o = OrderFact(
                order_id=chunk.next_id("SO"),
                person=p,
                channel=channel,
                ts=ts,
                currency=p.currency,
                total=total,
                lines=lines,
                status="placed",
                promised=None,
                delivered=None,
                store_id=store.store_id if channel == "store" else None,
                tracked=channel != "store" and rng.random() < 0.93,
                email=None,
            )
            returned_store = _fulfil(rng, o, end, ref)
            o.email = _email_for(rng, p, secondary)
            order_phone = phone_variant(p, rng, ORDER_PHONE_STYLES) if rng.random() < 0.85 else None
            order = {
                "order_id": o.order_id,
                "customer_ref": None if guest else (p.customer_ref2 if secondary else p.customer_ref),
                "email": o.email,
                "phone": order_phone,
                "channel": channel,
                "store_id": o.store_id,
                "ordered_at": ts_text(ts, rng, 0.1 if p.country == "VN" else 0.0),
                "status": o.status,
                "currency": o.currency,
                "total_amount": money(total, o.currency),
                "promised_delivery_at": iso_z(o.promised) if o.promised is not None else None,
                "delivered_at": iso_z(o.delivered) if o.delivered is not None else None,
                "returned_store_id": returned_store,
                "lines": line_dicts(lines, o.currency),
            }
            orders.append((ts, o.order_id, p.person_id, order))
            facts.append(o)
        if facts:
            order_facts[p.idx] = facts
    orders.sort(key=by_time)
    pos.sort(key=by_time)
    return CommerceOut(orders, pos, order_facts, pos_facts, store_phone_rows)


def _store_hours(rng: random.Random, ts: int) -> int:
    """Move a timestamp to 09:00-21:30 Vietnam time (02:00-14:30 UTC) on the same UTC day."""
    day = ts // MS_DAY
    return day * MS_DAY + 2 * MS_HOUR + int(rng.random() * 750) * MS_MINUTE + rng.randrange(60_000)
