"""True persons for one chunk: names, contact details, devices, households and their timeline.

A ``Person`` holds the canonical facts (name, email, E.164 phone, devices, segment, active period,
churn date); how each source spells those facts lives in ``identifiers.py``. Households of 2-5
persons share a family name and address, sometimes one e-mail address and a family tablet.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

from faker import Faker
from faker.providers.person.vi_VN import Provider as ViPersonProvider

from .identifiers import IdSpace, ascii_token
from .reference import (
    COUNTRIES,
    EMAIL_DOMAINS,
    FOREIGN_WEIGHTS,
    HOME_SHARE,
    VN_CITIES,
    VN_FAMILY,
    VN_GIVEN_FEMALE_EXTRA,
    VN_GIVEN_MALE_EXTRA,
    VN_MIDDLE_FEMALE,
    VN_MIDDLE_MALE,
    WORK_DOMAINS,
    Reference,
)
from .rng import derive_seed, uuid4
from .timefmt import MS_DAY

SEGMENTS = (("frequent", 0.12), ("regular", 0.33), ("one_off", 0.30), ("browser", 0.25))
TEST_PERSON_ID = "P-TEST"
TEST_CUSTOMER_REF = "C000000"  # customer refs start at 1, so this never collides
TEST_EMAIL = "test@example.com"


@dataclass(slots=True)
class Device:
    """A browser cookie (web) or an app install (app); app installs carry a device id."""

    kind: str  # web | app
    anonymous_id: str
    device_id: str | None
    device_type: str  # desktop | mobile | ios | android | tablet
    user_agent: str
    library: dict[str, str]
    local_time: bool  # this client stamps events in +07:00 local time instead of UTC


@dataclass(slots=True)
class Person:
    idx: int
    person_id: str
    country: str
    vn_name: bool
    gender: str  # female | male | other
    given: str
    middle: str
    family: str
    dob: int | None  # epoch day
    email: str | None  # canonical (lower-case) personal email
    email2: str | None  # second (work) email
    family_email: str | None  # shared with the household
    phone_cc: str | None
    phone_nsn: str | None  # national significant number, e.g. "912345678"
    customer_ref: str | None
    customer_ref2: str | None  # a second shop account, used with email2
    loyalty_id: str | None
    segment: str
    web_share: float
    app_share: float
    store_share: float
    preexisting: bool  # customer since before `start` (imported from the CRM)
    first_seen: int
    end: int
    churn_at: int | None
    lang: str  # vi | en
    locale: str
    timezone: str
    fav_category: str
    home_store: int
    ips: tuple[str, ...]
    address: tuple[str, str, str, str, str]  # line1, line2, city, postcode, state
    web_devices: list[Device] = field(default_factory=list)
    app_device: Device | None = None
    shared_device: Device | None = None
    household_id: str | None = None
    over_messaged: tuple[int, int, str] | None = None  # (from_ms, to_ms, channel) of daily promos
    consent_violation: bool = False

    @property
    def first_name(self) -> str:
        # Vietnamese CRMs usually keep the middle name with the given name ("Thị Đào").
        return f"{self.middle} {self.given}" if self.middle else self.given

    @property
    def last_name(self) -> str:
        return self.family

    @property
    def phone_e164(self) -> str | None:
        return f"+{self.phone_cc}{self.phone_nsn}" if self.phone_nsn else None

    @property
    def currency(self) -> str:
        return "VND" if self.country == "VN" else "USD"


@dataclass(frozen=True)
class Household:
    household_id: str
    person_ids: tuple[str, ...]
    shared_email: str | None
    shared_device_id: str | None
    shared_anonymous_id: str | None
    device_person_ids: tuple[str, ...]  # who uses the shared tablet


# ---------------------------------------------------------------------------------------------
# Faker pools: Faker is slow per call (~0.1-0.3 ms), so each process draws pools once per run seed
# (Faker seeded explicitly, never its global RNG) and chunks sample from them with their own RNG.

_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


@dataclass(frozen=True)
class Pools:
    vi_streets: tuple[str, ...]
    vi_wards: tuple[str, ...]
    en_first_female: tuple[str, ...]
    en_first_male: tuple[str, ...]
    en_last: tuple[str, ...]
    foreign_streets: dict[str, tuple[str, ...]]
    foreign_places: dict[str, tuple[tuple[str, str, str], ...]]  # (city, postcode, state)


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))  # de-duplicated, first-seen order (deterministic)


@lru_cache(maxsize=4)
def make_pools(seed: int) -> Pools:
    """Name and address pools for one run seed."""
    fakers = {}
    for locale in ("vi_VN", "en_US", "en_GB", "en_AU"):
        f = _faker(locale)
        f.seed_instance(derive_seed(seed, "faker", locale))
        fakers[locale] = f
    vi, us, gb, au = fakers["vi_VN"], fakers["en_US"], fakers["en_GB"], fakers["en_AU"]
    return Pools(
        vi_streets=_unique([vi.street_name() for _ in range(400)]),
        vi_wards=_unique([f"Phường {vi.commune_name()}" for _ in range(150)]),
        en_first_female=_unique([us.first_name_female() for _ in range(700)]),
        en_first_male=_unique([us.first_name_male() for _ in range(700)]),
        en_last=_unique([us.last_name() for _ in range(1200)]),
        foreign_streets={
            "US": _unique([us.street_name() for _ in range(300)]),
            "GB": _unique([gb.street_name() for _ in range(200)]),
            "AU": _unique([au.street_name() for _ in range(200)]),
            "SG": _unique([us.last_name() + " Road" for _ in range(100)]),
        },
        foreign_places={
            "US": tuple((us.city(), us.postcode(), us.state_abbr()) for _ in range(200)),
            "GB": tuple((gb.city(), gb.postcode(), gb.county()) for _ in range(150)),
            "AU": tuple((au.city(), au.postcode(), au.state_abbr()) for _ in range(150)),
            "SG": tuple(
                ("Singapore", f"{us.random_int(10, 82):02d}{us.random_int(0, 9999):04d}", "") for _ in range(80)
            ),
        },
    )


_VN_FAMILY_NAMES = tuple(n for n, _ in VN_FAMILY)
_VN_FAMILY_CUM = tuple(accumulate(w for _, w in VN_FAMILY))
_VN_FEMALE = tuple(dict.fromkeys(ViPersonProvider.first_names_female + VN_GIVEN_FEMALE_EXTRA))
_VN_MALE = tuple(dict.fromkeys(ViPersonProvider.first_names_male + VN_GIVEN_MALE_EXTRA))
_VN_UNISEX = tuple(dict.fromkeys(ViPersonProvider.first_names_unisex))


def _personal_email(rng: random.Random, p: Person, suffix: int) -> str:
    g, f, m = ascii_token(p.given) or "user", ascii_token(p.family) or "mail", ascii_token(p.middle)
    base = rng.choice((f"{g}.{f}", f"{f}.{g}", f"{g}{f}", f"{f}{g}", f"{g[0]}{f}", f"{f}{m}{g}", g))
    sep = rng.choice(("", "", ".", "_"))  # the base has no digits, so base+sep+suffix stays unique
    domains = EMAIL_DOMAINS[p.country]
    domain = rng.choices([d for d, _ in domains], weights=[w for _, w in domains])[0]
    return f"{base}{sep}{suffix}@{domain}"


# ---------------------------------------------------------------------------------------------
# Devices


def _user_agent(rng: random.Random, mobile: bool, vn: bool) -> str:
    chrome = f"{rng.randint(118, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(10, 200)}"
    if mobile:
        if rng.random() < 0.55:
            model = rng.choice(("SM-A546E", "SM-A155F", "Redmi Note 13", "OPPO A79", "vivo Y36", "Pixel 8"))
            return (
                f"Mozilla/5.0 (Linux; Android {rng.randint(11, 14)}; {model}) AppleWebKit/537.36 "
                f"(KHTML, like Gecko) Chrome/{chrome} Mobile Safari/537.36"
            )
        ios = f"{rng.randint(16, 17)}_{rng.randint(0, 6)}"
        return (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{ios.split('_')[0]}.0 Mobile/15E148 Safari/604.1"
        )
    r = rng.random()
    if vn and r < 0.2:  # Cốc Cốc is a popular Vietnamese browser
        return (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"coc_coc_browser/{rng.randint(110, 125)}.0.{rng.randint(100, 200)} Chrome/{chrome} Safari/537.36"
        )
    if r < 0.75:
        return (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome} Safari/537.36"
        )
    return (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        f"Version/17.{rng.randint(0, 6)} Safari/605.1.15"
    )


# A fixed catalogue of browser user agents (building one per device was a noticeable share of the run).
_UA_RNG = random.Random(20250101)
_WEB_UAS = {
    (mobile, vn): tuple(_user_agent(_UA_RNG, mobile, vn) for _ in range(300))
    for mobile in (True, False)
    for vn in (True, False)
}
_WEB_LIBS = tuple({"name": "analytics.js", "version": v} for v in ("4.1.0", "4.15.3", "next-1.70.0"))


def make_web_device(rng: random.Random, mobile_share: float, vn: bool) -> Device:
    mobile = rng.random() < mobile_share
    ua = rng.choice(_WEB_UAS[mobile, vn])
    lib = _WEB_LIBS[int(rng.random() * 3)]
    return Device("web", uuid4(rng), None, "mobile" if mobile else "desktop", ua, lib, False)


def make_app_device(rng: random.Random, vn: bool, tablet: bool = False) -> Device:
    version = f"3.{rng.randint(2, 9)}.{rng.randint(0, 4)}"
    if rng.random() < 0.45:
        device_id = uuid4(rng).upper()  # identifierForVendor
        ua = (
            f"ShopApp/{version} (iPad; iPadOS 17.{rng.randint(0, 5)})"
            if tablet
            else (f"ShopApp/{version} (iPhone; iOS 17.{rng.randint(0, 5)}; Scale/3.00)")
        )
        dtype, lib = ("tablet" if tablet else "ios"), {"name": "analytics-ios", "version": "4.1.8"}
    else:
        device_id = f"{rng.getrandbits(64):016x}"  # ANDROID_ID
        model = "SM-X205" if tablet else rng.choice(("SM-A546E", "Redmi Note 13", "OPPO A79", "vivo Y36"))
        ua = f"ShopApp/{version} (Linux; Android {rng.randint(11, 14)}; {model})"
        dtype, lib = ("tablet" if tablet else "android"), {"name": "analytics-android", "version": "4.11.3"}
    return Device("app", uuid4(rng), device_id, dtype, ua, lib, vn and rng.random() < 0.4)


def _ips(rng: random.Random, vn: bool) -> tuple[str, ...]:
    firsts = (14, 27, 42, 113, 115, 116, 117, 118, 171, 183) if vn else (24, 68, 73, 81, 86, 98, 101, 121, 203)
    return tuple(
        f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(rng.randint(1, 3))
    )


# ---------------------------------------------------------------------------------------------
# Persons


def _pick_country(rng: random.Random, home: str) -> str:
    if rng.random() < HOME_SHARE:
        return home
    others = [(c, w) for c, w in FOREIGN_WEIGHTS.items() if c != home] or [("VN", 1.0)]
    if home != "VN":
        others.append(("VN", 0.3))
    return rng.choices([c for c, _ in others], weights=[w for _, w in others])[0]


def _name(rng: random.Random, country: str, pools: Pools, family: str | None) -> tuple[bool, str, str, str, str]:
    """(vn_name, gender, given, middle, family)."""
    r = rng.random()
    gender = "female" if r < 0.5 else ("male" if r < 0.99 else "other")
    if country == "VN":
        fam = family or _VN_FAMILY_NAMES[bisect(_VN_FAMILY_CUM, rng.random() * _VN_FAMILY_CUM[-1])]
        if gender == "other":
            given, middle = rng.choice(_VN_UNISEX), rng.choice(VN_MIDDLE_FEMALE + VN_MIDDLE_MALE)
        elif gender == "female":
            given, middle = rng.choice(_VN_FEMALE), rng.choice(VN_MIDDLE_FEMALE)
        else:
            given, middle = rng.choice(_VN_MALE), rng.choice(VN_MIDDLE_MALE)
        return True, gender, given, middle, fam
    given = rng.choice(pools.en_first_female if gender != "male" else pools.en_first_male)
    return False, gender, given, "", family or rng.choice(pools.en_last)


def _address(rng: random.Random, country: str, pools: Pools) -> tuple[str, str, str, str, str]:
    if country == "VN":
        city, _spellings, province, _w = rng.choices(VN_CITIES, weights=[c[3] for c in VN_CITIES])[0]
        n = rng.randint(1, 450)
        street = rng.choice(pools.vi_streets)
        line1 = f"Số {n}/{rng.randint(1, 80)} {street}" if rng.random() < 0.3 else f"{n} {street}"
        line2 = rng.choice(pools.vi_wards) if rng.random() < 0.6 else ""
        prefix = {"Hồ Chí Minh": "70", "Hà Nội": "10", "Đà Nẵng": "50", "Hải Phòng": "18", "Cần Thơ": "94"}
        postcode = f"{prefix.get(city, '6' + str(rng.randint(0, 9)))}{rng.randint(0, 999):03d}"
        return line1, line2, city, postcode, province
    street = f"{rng.randint(1, 9800)} {rng.choice(pools.foreign_streets[country])}"
    city, postcode, state = rng.choice(pools.foreign_places[country])
    line2 = f"Apt {rng.randint(1, 40)}{rng.choice('ABCD')}" if rng.random() < 0.2 else ""
    return street, line2, city, postcode, state


def make_persons(
    rng: random.Random,
    pools: Pools,
    ids: IdSpace,
    ref: Reference,
    first_idx: int,
    count: int,
    start_ms: int,
    end_ms: int,
) -> tuple[list[Person], list[Household]]:
    """``count`` persons with global indexes first_idx.., grouped into occasional households."""
    persons: list[Person] = []
    households: list[Household] = []
    span = end_ms - start_ms
    seg_names = tuple(s for s, _ in SEGMENTS)
    seg_cum = tuple(accumulate(w for _, w in SEGMENTS))
    i = 0
    while i < count:
        size = 1
        if rng.random() < 0.012 and count - i >= 2:
            size = min(count - i, rng.choice((2, 2, 3, 3, 4, 4, 5)))
        country = _pick_country(rng, ref.home)
        family = None
        address = _address(rng, country, pools) if size > 1 else None
        members: list[Person] = []
        for _ in range(size):
            idx = first_idx + i
            vn_name, gender, given, middle, fam = _name(rng, country, pools, family)
            family = family or fam  # household members share the family name
            p = _make_person(
                rng,
                ids,
                ref,
                pools,
                idx,
                country,
                (vn_name, gender, given, middle, fam),
                start_ms,
                span,
                seg_names,
                seg_cum,
            )
            if address is not None:  # a household lives at one address
                p.address = address
            members.append(p)
            i += 1
        if size > 1:
            households.append(_make_household(rng, members))
        persons.extend(members)
    return persons, households


def _make_person(
    rng: random.Random,
    ids: IdSpace,
    ref: Reference,
    pools: Pools,
    idx: int,
    country: str,
    name: tuple[bool, str, str, str, str],
    start_ms: int,
    span: int,
    seg_names: tuple[str, ...],
    seg_cum: tuple[float, ...],
) -> Person:
    vn_name, gender, given, middle, family = name
    vn = country == "VN"
    segment = seg_names[bisect(seg_cum, rng.random() * seg_cum[-1])]
    # channel mix: online-only, omnichannel or store-first shoppers
    r = rng.random()
    if vn:
        web, app, store = (0.55, 0.45, 0.0) if r < 0.5 else ((0.35, 0.3, 0.35) if r < 0.8 else (0.1, 0.05, 0.85))
    else:
        web, app, store = (0.7, 0.3, 0.0) if r < 0.85 else (0.5, 0.2, 0.3)
    has_app = app > 0 and rng.random() < (0.6 if vn else 0.4)
    if not has_app:
        web, app = web + app, 0.0
    preexisting = rng.random() < 0.35
    first_seen = start_ms if preexisting else start_ms + int(rng.random() ** 1.3 * 0.85 * span)
    end = start_ms + span
    churn_at = None
    if segment in ("frequent", "regular") and end - first_seen > 90 * MS_DAY and rng.random() < 0.25:
        churn_at = first_seen + int((0.25 + 0.45 * rng.random()) * (end - first_seen))
    has_account = preexisting or rng.random() < (0.5 if store > 0.5 else 0.85)
    lang = "vi" if vn and rng.random() < 0.85 else "en"
    age_years = 18 + int(rng.betavariate(2.0, 3.5) * 55)
    dob = start_ms // MS_DAY - age_years * 365 - rng.randrange(365) if rng.random() < 0.97 else None

    p = Person(
        idx=idx,
        person_id=f"P{idx + 1:08d}",
        country=country,
        vn_name=vn_name,
        gender=gender,
        given=given,
        middle=middle,
        family=family,
        dob=dob,
        email=None,
        email2=None,
        family_email=None,
        phone_cc=COUNTRIES[country].calling_code,
        phone_nsn=ids.phone_nsn(country, idx) if rng.random() < 0.93 else None,
        customer_ref=ids.customer_ref(idx) if has_account else None,
        customer_ref2=None,
        loyalty_id=ids.loyalty_card(idx) if store > 0 and rng.random() < 0.65 else None,
        segment=segment,
        web_share=web,
        app_share=app,
        store_share=store,
        preexisting=preexisting,
        first_seen=first_seen,
        end=end,
        churn_at=churn_at,
        lang=lang,
        locale="vi-VN" if lang == "vi" else "en-US",
        timezone=rng.choice(COUNTRIES[country].timezones),
        fav_category=rng.choice(tuple(ref.by_category)),
        home_store=bisect(ref.store_cum_weights, rng.random() * ref.store_cum_weights[-1]),
        ips=_ips(rng, vn),
        address=("", "", "", "", ""),
    )
    if p.phone_nsn is None:
        p.phone_cc = None
    # store-only shoppers often never give an email
    if rng.random() < (0.75 if store > 0.5 else 0.97):
        p.email = _personal_email(rng, p, ids.email_suffix(idx))
    if rng.random() < 0.15:
        p.email2 = f"{ascii_token(given) or 'user'}.{ascii_token(family) or 'x'}{ids.email_suffix(idx)}@" + (
            rng.choice(WORK_DOMAINS)
        )
        if has_account and rng.random() < 0.2:
            p.customer_ref2 = ids.customer_ref(idx, secondary=True)
    mobile_share = 0.7 if vn else 0.5
    p.web_devices = [
        make_web_device(rng, mobile_share, vn) for _ in range(1 + (rng.random() < 0.4) + (rng.random() < 0.2))
    ]
    if has_app:
        p.app_device = make_app_device(rng, vn)
    p.address = _address(rng, country, pools)
    if rng.random() < 0.003 and (p.email or p.phone_nsn or p.app_device):
        frm = p.first_seen + int(rng.random() * 0.5 * (end - p.first_seen))
        to = min(end, frm + rng.randint(30, 120) * MS_DAY)
        channels = [c for c, ok in (("email", p.email), ("sms", p.phone_nsn), ("push", p.app_device)) if ok]
        p.over_messaged = (frm, to, rng.choice(channels))
    p.consent_violation = rng.random() < 0.002 and p.email is not None
    return p


def _make_household(rng: random.Random, members: list[Person]) -> Household:
    head = members[0]
    hh_id = f"HH-{head.idx + 1:08d}"
    shared_email = None
    if rng.random() < 0.5:
        # the head's index makes it unique; the "giadinh."/"the." prefix never starts a personal email
        if head.country == "VN":
            shared_email = f"giadinh.{ascii_token(head.family)}{head.idx + 1}@gmail.com"
        else:
            shared_email = f"the.{ascii_token(head.family)}.family{head.idx + 1}@gmail.com"
    shared_device = make_app_device(rng, head.country == "VN", tablet=True) if rng.random() < 0.4 else None
    for i, m in enumerate(members):
        m.household_id = hh_id
        m.family_email = shared_email
        if shared_device is not None and i < 2:  # the family tablet is used by two of them
            m.shared_device = shared_device
            if m.app_share == 0:
                m.app_share, m.web_share = 0.3, max(0.0, m.web_share - 0.3)
    return Household(
        household_id=hh_id,
        person_ids=tuple(m.person_id for m in members),
        shared_email=shared_email,
        shared_device_id=shared_device.device_id if shared_device else None,
        shared_anonymous_id=shared_device.anonymous_id if shared_device else None,
        device_person_ids=tuple(m.person_id for m in members[:2]) if shared_device else (),
    )
