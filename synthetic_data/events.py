"""Segment-spec behavioural events: sessions with a view -> add -> checkout -> purchase funnel.

Each person browses on their own browsers (one anonymousId per cookie, rotated over the year) and,
if they have the app, on a phone app that sends a device id. Sessions start anonymous; a login or
sign-up sends ``identify`` with userId and the same anonymousId, after which events carry the userId.
Purchase sessions end in "Order Completed" at exactly the order's ``ordered_at`` and carry its
order_id. Two members of some households share a family tablet (one anonymousId, two userIds), and
a QA test account (test@example.com) produces ~1,000 events across the run.

Rows carry the already-serialised JSON line (the row's data is a str): events are ~2/3 of all rows and
assembling lines from pre-encoded pieces is several times faster than json-encoding nested dicts.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache

from .commerce import OrderFact
from .context import Chunk, Row, by_time, money
from .identifiers import email_variant, name_variant, phone_styles, phone_variant
from .people import TEST_CUSTOMER_REF, TEST_EMAIL, TEST_PERSON_ID, Device, Person, make_app_device, make_web_device
from .reference import Product, Reference
from .rng import poisson, stream, uuid4
from .timefmt import MS_DAY, MS_HOUR, day_str, iso_offset, iso_z

BROWSE_SESSIONS = {"frequent": 2.5, "regular": 1.5, "one_off": 0.8, "browser": 2.0}
TRAIT_PHONE_STYLES = phone_styles(e164=0.5, intl=0.15, national=0.3, compact=0.0, odd=0.05)
SHOP_URL = "https://shop.example.vn"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# A step is (offset ms from session start, type, userId as JSON, body) where body is "," + the JSON
# fragment of the type-specific fields ("event"/"name"/"properties"/"traits"/"previousId"/"groupId").
Step = tuple[int, str, str, str]


@lru_cache(maxsize=4)
def _test_devices(seed: int) -> tuple[Device, ...]:
    """The QA team's own browsers/phone, shared by every chunk of a run."""
    rng = stream(seed, "test-account-devices")
    return (make_web_device(rng, 0.0, True), make_web_device(rng, 1.0, True), make_app_device(rng, True))


class _Session:
    """Collects the steps of one session, tracking who the events are attributed to (userId)."""

    __slots__ = ("_uid", "cache", "off", "rng", "steps", "user", "web")

    def __init__(self, rng: random.Random, uid: str | None, channel: str, cache: dict[tuple, str]) -> None:
        self.rng = rng
        self.steps: list[Step] = []
        self.off = 0
        self.uid = uid
        self.web = channel == "web"
        self.cache = cache

    @property
    def uid(self) -> str | None:
        return self._uid

    @uid.setter
    def uid(self, value: str | None) -> None:
        self._uid = value
        self.user = "null" if value is None else f'"{value}"'  # refs are plain ASCII: no escaping

    def add(self, type_: str, fields: dict[str, object], gap_max: int = 45_000) -> None:
        self.add_body(type_, "," + _encode(fields)[1:-1], gap_max)

    def add_body(self, type_: str, body: str, gap_max: int = 45_000) -> None:
        self.steps.append((self.off, type_, self.user, body))
        self.off += 1_500 + int(self.rng.random() * (gap_max - 1_500))

    def view(self, name: str, path: str) -> None:
        if self.web:
            page_key = ("page", name, path)
            body = self.cache.get(page_key)
            if body is None:
                fields = {"name": name, "properties": {"path": path, "url": SHOP_URL + path}}
                body = self.cache[page_key] = "," + _encode(fields)[1:-1]
            self.add_body("page", body)
        else:
            key = ("screen", name)
            body = self.cache.get(key)
            if body is None:
                body = self.cache[key] = "," + _encode({"name": name, "properties": {}})[1:-1]
            self.add_body("screen", body)

    def track(self, event: str, properties: dict[str, object], gap_max: int = 45_000) -> None:
        self.add("track", {"event": event, "properties": properties}, gap_max)

    def product(self, event: str, prod: Product, currency: str, price: int, qty: int | None = None) -> None:
        """Product Viewed / Product Added; their bodies repeat a lot, so they are encoded once per chunk."""
        key = (event, prod.sku, currency, qty)
        body = self.cache.get(key)
        if body is None:
            props = _product_props(prod, currency, price)
            if qty is not None:
                props["quantity"] = qty
            body = self.cache[key] = "," + _encode({"event": event, "properties": props})[1:-1]
        self.add_body("track", body)


def _product_props(prod: Product, currency: str, price: int) -> dict[str, object]:
    return {"sku": prod.sku, "category": prod.category, "price": money(price, currency), "currency": currency}


def _random_product(rng: random.Random, ref: Reference, p: Person) -> tuple[Product, int]:
    prod = rng.choice(ref.by_category[p.fav_category]) if rng.random() < 0.5 else rng.choice(ref.catalog)
    return prod, prod.price_vnd if p.currency == "VND" else prod.price_usd_cents


def _traits(rng: random.Random, p: Person) -> dict[str, object]:
    traits: dict[str, object] = {}
    email = p.family_email if p.family_email and rng.random() < 0.5 else p.email
    email = email_variant(email, rng, 0.35)
    if email:
        traits["email"] = email
    if rng.random() < 0.6:
        phone = phone_variant(p, rng, TRAIT_PHONE_STYLES)
        if phone:
            traits["phone"] = phone
    if rng.random() < 0.85:
        # typed on phones without a Vietnamese keyboard: diacritics often missing
        first, last = name_variant(p, rng, strip_p=0.6)
        traits["firstName"], traits["lastName"] = first, last
    if p.dob is not None and rng.random() < 0.15:
        traits["birthday"] = day_str(p.dob)
    return traits


class EventBuilder:
    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk
        self.ref = chunk.cfg.reference
        self.rng = chunk.rng("events")
        self.rows: list[Row] = []
        self.cache: dict[tuple, str] = {}  # serialised, often-repeated message bodies
        self.contexts: dict[tuple, str] = {}  # serialised context per device/ip/channel

    # -- message assembly -----------------------------------------------------------------------
    def _finish(
        self,
        pid: str,
        steps: list[Step],
        base: int,
        device: Device,
        ip: str,
        locale: str,
        tz: str,
        channel: str,
    ) -> None:
        """Serialise steps as Segment messages with keys in the order: type, messageId, anonymousId,
        userId, type-specific fields, context, timestamp, sentAt, receivedAt.

        The pieces spliced in unencoded are known-safe ASCII (uuids, customer refs, ISO timestamps).
        """
        rng = self.rng
        rand = rng.random
        ckey = (device.anonymous_id, ip, locale, tz, channel)
        context = self.contexts.get(ckey)
        if context is None:
            context = self.contexts[ckey] = _encode(
                {
                    "ip": ip,
                    "userAgent": device.user_agent,
                    "locale": locale,
                    "timezone": tz,
                    "channel": channel,
                    "device": {"id": device.device_id, "type": device.device_type},
                    "library": device.library,
                }
            )
        head = f'","anonymousId":"{device.anonymous_id}","userId":'
        ctx = ',"context":' + context + ',"timestamp":"'
        local = device.local_time
        app = device.kind == "app"
        # app SDKs batch events, and sometimes flush hours later after being offline
        lag = 2_000 + int(rand() * 28_000) if app else 50 + int(rand() * 1_450)
        if app and rand() < 0.03:
            lag += (1 + int(rand() * 36)) * MS_HOUR
        append = self.rows.append
        for off, type_, user, body in steps:
            ts = base + off
            sent = ts + lag
            mid = uuid4(rng)
            if local:  # this client stamps local time with an offset
                stamps = f'{iso_offset(ts, 420)}","sentAt":"{iso_offset(sent, 420)}'
            else:
                stamps = f'{iso_z(ts)}","sentAt":"{iso_z(sent)}'
            received = iso_z(sent + 20 + int(rand() * 580))
            line = f'{{"type":"{type_}","messageId":"{mid}{head}{user}{body}{ctx}{stamps}","receivedAt":"{received}"}}'
            append((ts, mid, pid, line))

    # -- per person -------------------------------------------------------------------------------
    def person(self, p: Person, orders: list[OrderFact]) -> None:
        rng = self.rng
        sessions: list[tuple[int, int, OrderFact | None]] = []
        for o in orders:
            if o.channel != "store" and o.tracked:
                sessions.append((o.ts, 1, o))
        span = p.end - p.first_seen
        for _ in range(poisson(rng, BROWSE_SESSIONS[p.segment])):
            t = p.first_seen + int(rng.random() * span)
            if p.churn_at is not None and t > p.churn_at and rng.random() < 0.7:
                continue  # churners mostly stop visiting too
            sessions.append((t, 0, None))
        if not sessions:
            return
        sessions.sort(key=lambda s: (s[0], s[1]))
        identified: set[str] = set()
        signed_up = p.preexisting or p.customer_ref is None
        for t, _kind, order in sessions:
            channel = order.channel if order is not None else self._browse_channel(p)
            device = self._device(p, channel, t)
            if device.kind == "web":
                channel = "web"
            # the app keeps you logged in; browsers mostly do once you have logged in on them
            logged_in = (
                p.customer_ref is not None
                and device.anonymous_id in identified
                and device is not p.shared_device
                and rng.random() < (0.95 if device.kind == "app" else 0.8)
            )
            s = _Session(rng, p.customer_ref if logged_in else None, channel, self.cache)
            s.view("Home", "/")
            if not signed_up and p.customer_ref is not None:
                signed_up = True
                s.track("Signed Up", {"method": rng.choice(("email", "phone", "google", "facebook"))})
                self._identify(s, p, device, identified)
                if rng.random() < 0.3:
                    s.add("alias", {"previousId": device.anonymous_id})
            elif device is p.shared_device and p.customer_ref is not None:
                self._identify(s, p, device, identified)  # switching profile on the family tablet
            if order is not None:
                self._purchase(s, p, device, order, identified)
                base = order.ts - s.steps[-1][0]
            else:
                self._browse(s, p, device, identified)
                base = t
            if p.household_id and s.uid and rng.random() < 0.03:
                name = f"Gia đình {p.family}" if p.vn_name else f"The {p.family} family"
                s.add("group", {"groupId": p.household_id, "traits": {"name": name, "type": "household"}})
            self._finish(p.person_id, s.steps, base, device, rng.choice(p.ips), p.locale, p.timezone, channel)

    def _browse_channel(self, p: Person) -> str:
        online = p.web_share + p.app_share
        if online <= 0:
            return "web"
        return "app" if self.rng.random() * online >= p.web_share else "web"

    def _device(self, p: Person, channel: str, t: int) -> Device:
        if channel == "app":
            if p.shared_device is not None and (p.app_device is None or self.rng.random() < 0.4):
                return p.shared_device
            if p.app_device is not None:
                return p.app_device
        # cookies get cleared: each browser id covers a slice of the person's year
        k = len(p.web_devices)
        i = min(k - 1, (t - p.first_seen) * k // (p.end - p.first_seen + 1))
        return p.web_devices[max(0, i)]

    def _identify(self, s: _Session, p: Person, device: Device, identified: set[str]) -> None:
        s.uid = p.customer_ref
        s.add("identify", {"traits": _traits(s.rng, p)}, gap_max=5_000)
        identified.add(device.anonymous_id)

    def _browse(self, s: _Session, p: Person, device: Device, identified: set[str]) -> None:
        rng = s.rng
        currency = p.currency
        prod, price = _random_product(rng, self.ref, p)
        for i in range(1 + min(5, poisson(rng, 0.8))):
            if i:
                prod, price = _random_product(rng, self.ref, p)
            if rng.random() < 0.3:
                s.view("Product Detail", f"/p/{prod.sku}")
            s.product("Product Viewed", prod, currency, price)
        if s.uid is None and p.customer_ref is not None and rng.random() < 0.12:
            self._identify(s, p, device, identified)
        if rng.random() < 0.3:
            s.product("Product Added", prod, currency, price, 1)
            if rng.random() < 0.75:
                s.track(
                    "Cart Viewed",
                    {"cart_id": uuid4(rng)[:13], "currency": currency, "value": money(price, currency)},
                )
            if rng.random() < 0.35:  # abandoned checkout
                s.track(
                    "Checkout Started",
                    {"order_id": None, "currency": currency, "revenue": money(price, currency)},
                )

    def _purchase(self, s: _Session, p: Person, device: Device, o: OrderFact, identified: set[str]) -> None:
        rng = s.rng
        cur = o.currency
        for _ in range(min(3, poisson(rng, 0.5))):
            prod, price = _random_product(rng, self.ref, p)
            s.product("Product Viewed", prod, cur, price)
        if s.uid is None and p.customer_ref is not None:
            self._identify(s, p, device, identified)  # log in to check out
        for prod, qty, price in o.lines:
            s.product("Product Viewed", prod, cur, price)
            s.product("Product Added", prod, cur, price, qty)
        if rng.random() < 0.7:
            s.track("Cart Viewed", {"cart_id": uuid4(rng)[:13], "currency": cur, "value": money(o.total, cur)})
        s.track("Checkout Started", {"order_id": o.order_id, "currency": cur, "revenue": money(o.total, cur)})
        if p.customer_ref is None and o.email:
            # guest checkout: identify by email only, no userId
            s.add("identify", {"traits": {"email": o.email}}, gap_max=20_000)
        products = [
            {"sku": prod.sku, "category": prod.category, "price": money(price, cur), "quantity": qty}
            for prod, qty, price in o.lines
        ]
        s.track(
            "Order Completed",
            {"order_id": o.order_id, "currency": cur, "revenue": money(o.total, cur), "products": products},
        )

    # -- the QA test account --------------------------------------------------------------------------
    def test_account(self, n: int) -> int:
        """Exactly ``n`` events from the shop's QA account, spread over the run; returns n."""
        if n <= 0:
            return 0
        rng = self.chunk.rng("events-test-account")
        cfg = self.chunk.cfg
        devices = _test_devices(cfg.seed)
        emitted = 0
        seq = 0
        while emitted < n:
            device = rng.choice(devices)
            channel = "app" if device.kind == "app" else "web"
            s = _Session(rng, None, channel, self.cache)
            s.view("Home", "/")
            s.uid = TEST_CUSTOMER_REF
            email = rng.choice((TEST_EMAIL, TEST_EMAIL, "TEST@example.com", " test@example.com"))
            s.add("identify", {"traits": {"email": email, "firstName": "Test", "lastName": "Account"}})
            prod = rng.choice(self.ref.catalog)
            s.product("Product Viewed", prod, "VND", prod.price_vnd)
            s.product("Product Added", prod, "VND", prod.price_vnd, 1)
            seq += 1
            order_id = f"TEST-{self.chunk.index:04d}-{seq:04d}"
            s.track("Checkout Started", {"order_id": order_id, "currency": "VND", "revenue": prod.price_vnd})
            s.track(
                "Order Completed",
                {
                    "order_id": order_id,
                    "currency": "VND",
                    "revenue": prod.price_vnd,
                    "products": [{"sku": prod.sku, "category": prod.category, "price": prod.price_vnd, "quantity": 1}],
                },
            )
            steps = s.steps[: n - emitted]
            # QA runs during office hours, Vietnam time
            day = rng.randrange(cfg.days)
            base = cfg.start_ms + day * MS_DAY + 2 * MS_HOUR + rng.randrange(9 * MS_HOUR)
            self._finish(TEST_PERSON_ID, steps, base, device, "113.161.0.10", "en-US", "Asia/Ho_Chi_Minh", channel)
            emitted += len(steps)
        return emitted


def build_events(chunk: Chunk, persons: list[Person], orders: dict[int, list[OrderFact]]) -> tuple[list[Row], int]:
    """All events for the chunk (sorted by timestamp) and the number of test-account events."""
    b = EventBuilder(chunk)
    for p in persons:
        b.person(p, orders.get(p.idx, []))
    n_test = b.test_account(chunk.cfg.test_events_for(chunk.first_idx, chunk.count))
    b.rows.sort(key=by_time)
    return b.rows, n_test
