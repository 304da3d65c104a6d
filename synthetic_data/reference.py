"""Reference data shared by every chunk: countries, product catalogue, stores, campaigns, name lists.

All of it is small and derived from the run seed only, so chunks can be generated independently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .rng import stream
from .timefmt import MS_DAY, MS_HOUR, date_str


@dataclass(frozen=True)
class Country:
    code: str
    calling_code: str
    timezones: tuple[str, ...]
    mobile_prefixes: tuple[str, ...]  # national significant number prefixes
    mobile_rest_digits: int  # digits after the prefix
    names: tuple[str, ...]  # spellings of the country seen in CRM free text


# fmt: off
# Mobile ranges (3-digit national prefixes) that libphonenumber accepts as valid mobile numbers:
# 03x, 056/058/059, 07x, 08x and 09x (089 only from 0896).
_VN_MOBILE_HEADS = (32, 33, 34, 35, 36, 37, 38, 39, 56, 58, 59, 70, 76, 77, 78, 79, 81, 82, 83, 84, 85, 86,
                    88, 90, 91, 93, 94, 96, 97, 98)
_VN_MOBILE_PREFIXES = (*(f"{a}{b}" for a in _VN_MOBILE_HEADS for b in range(10)), "896", "897", "898", "899")

COUNTRIES: dict[str, Country] = {
    "VN": Country(
        "VN",
        "84",
        ("Asia/Ho_Chi_Minh",),
        _VN_MOBILE_PREFIXES,
        6,
        ("Vietnam", "Viet Nam", "Việt Nam"),
    ),
    "US": Country(
        "US",
        "1",
        ("America/New_York", "America/Chicago", "America/Los_Angeles"),
        (
            "212", "213", "310", "312", "347", "415", "510", "617", "646", "702",
            "718", "773", "818", "917", "929", "206", "305", "404", "512", "713",
        ),
        7,
        ("United States", "USA"),
    ),
    "GB": Country(
        "GB",
        "44",
        ("Europe/London",),
        tuple(f"7{n}" for n in (*range(40, 60), *range(71, 90))),
        7,
        ("United Kingdom", "UK"),
    ),
    "SG": Country(
        "SG", "65", ("Asia/Singapore",), tuple(str(n) for n in range(81, 99)), 6, ("Singapore",),
    ),
    "AU": Country(
        "AU",
        "61",
        ("Australia/Sydney", "Australia/Melbourne"),
        tuple(f"4{n:02d}" for n in (*range(0, 41), *range(54, 70))),
        6,
        ("Australia",),
    ),
}
# fmt: on
FOREIGN_WEIGHTS = {"US": 0.4, "GB": 0.2, "SG": 0.2, "AU": 0.2}
HOME_SHARE = 0.8

# fmt: off
# --- Vietnamese names: Faker's vi_VN lists are tiny (10 family names), so they are extended with
# common names and weighted roughly like the real distribution (Nguyễn ~38%).
VN_FAMILY = (
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Hoàng", 4), ("Huỳnh", 4), ("Phan", 4.5),
    ("Vũ", 3.9), ("Võ", 3), ("Đặng", 2.1), ("Bùi", 2), ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3),
    ("Dương", 1), ("Lý", 0.5), ("Mai", 0.5), ("Đinh", 0.6), ("Trương", 0.6), ("Lâm", 0.4),
)
VN_MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Bảo", "Kim", "Phương", "Mai", "Hồng", "Thảo")
VN_MIDDLE_MALE = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Thành", "Công", "Xuân", "Hoàng", "Tuấn", "Gia")
VN_GIVEN_FEMALE_EXTRA = (
    "Đào", "Hoa", "Trang", "Thủy", "Hằng", "Nhung", "Phương", "Quỳnh", "Thư", "Trâm", "Uyên", "Vy",
    "My", "Nga", "Oanh", "Tuyết", "Nhi", "Giang", "Hiền", "Huyền", "Loan", "Nhàn", "Hà", "Diệp",
)
VN_GIVEN_MALE_EXTRA = (
    "Hùng", "Cường", "Đạt", "Hiếu", "Khánh", "Long", "Lộc", "Nghĩa", "Phong", "Quân", "Sơn", "Tài",
    "Thắng", "Thịnh", "Tiến", "Toàn", "Trí", "Tuấn", "Việt", "Vinh", "Hải", "Hiệp", "Kiên", "Lâm",
)
VN_CITIES = (
    # (canonical, spellings seen in CRM, province/state, weight)
    ("Hồ Chí Minh", ("Hồ Chí Minh", "TP. Hồ Chí Minh", "Ho Chi Minh City", "HCMC", "Sài Gòn"), "Hồ Chí Minh",
     40),
    ("Hà Nội", ("Hà Nội", "Ha Noi", "Hanoi", "TP. Hà Nội"), "Hà Nội", 30),
    ("Đà Nẵng", ("Đà Nẵng", "Da Nang"), "Đà Nẵng", 8),
    ("Hải Phòng", ("Hải Phòng", "Hai Phong"), "Hải Phòng", 6),
    ("Cần Thơ", ("Cần Thơ", "Can Tho"), "Cần Thơ", 5),
    ("Biên Hòa", ("Biên Hòa", "Bien Hoa"), "Đồng Nai", 4),
    ("Nha Trang", ("Nha Trang",), "Khánh Hòa", 4),
    ("Huế", ("Huế", "Hue"), "Thừa Thiên Huế", 3),
)

EMAIL_DOMAINS = {
    "VN": (("gmail.com", 62), ("yahoo.com", 12), ("hotmail.com", 6), ("outlook.com", 6), ("icloud.com", 5),
           ("yahoo.com.vn", 5), ("fpt.vn", 2), ("vnn.vn", 2)),
    "US": (("gmail.com", 50), ("yahoo.com", 15), ("outlook.com", 12), ("hotmail.com", 8), ("icloud.com", 10),
           ("aol.com", 5)),
    "GB": (("gmail.com", 45), ("hotmail.co.uk", 15), ("outlook.com", 10), ("yahoo.co.uk", 10),
           ("btinternet.com", 10), ("icloud.com", 10)),
    "SG": (("gmail.com", 60), ("yahoo.com.sg", 15), ("hotmail.com", 10), ("singnet.com.sg", 5),
           ("icloud.com", 10)),
    "AU": (("gmail.com", 50), ("bigpond.com", 15), ("outlook.com", 10), ("hotmail.com", 10),
           ("icloud.com", 10), ("optusnet.com.au", 5)),
}
WORK_DOMAINS = ("fpt.com.vn", "vng.com.vn", "viettel.com.vn", "acme-corp.com", "globex.io", "initech.co")

CATEGORIES = (
    # (name, sku prefix, min VND, max VND, relative popularity)
    ("electronics", "ELE", 300_000, 25_000_000, 14),
    ("fashion", "FAS", 150_000, 2_500_000, 24),
    ("beauty", "BEA", 80_000, 1_500_000, 18),
    ("home", "HOM", 100_000, 6_000_000, 12),
    ("grocery", "GRO", 20_000, 600_000, 16),
    ("toys", "TOY", 100_000, 2_000_000, 6),
    ("sports", "SPO", 150_000, 5_000_000, 6),
    ("books", "BOO", 50_000, 450_000, 4),
)
VND_PER_USD = 25_000

# fmt: on


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price_vnd: int  # whole dong, multiple of 1,000
    price_usd_cents: int


@dataclass(frozen=True)
class Store:
    store_id: str
    city: str
    phone_national: str  # as the cashier would type it, e.g. "02838234567"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    channel: str  # email | sms | push
    sent_ms: int
    reach: float  # share of eligible recipients targeted


@dataclass(frozen=True)
class Reference:
    home: str
    catalog: tuple[Product, ...]
    catalog_cum_weights: tuple[float, ...]
    by_category: dict[str, tuple[Product, ...]]
    stores: tuple[Store, ...]
    store_cum_weights: tuple[float, ...]
    campaigns: tuple[Campaign, ...]
    daily_campaign_id: str


# fmt: off
VN_STORES = (
    ("HCM-01", "Hồ Chí Minh", "02838234567", 14), ("HCM-02", "Hồ Chí Minh", "02839305511", 10),
    ("HCM-03", "Hồ Chí Minh", "02862907788", 8), ("HCM-04", "Hồ Chí Minh", "02837401234", 6),
    ("HN-01", "Hà Nội", "02439361122", 12), ("HN-02", "Hà Nội", "02437824455", 8),
    ("HN-03", "Hà Nội", "02435560099", 5), ("DN-01", "Đà Nẵng", "02363822211", 5),
    ("HP-01", "Hải Phòng", "02253745566", 3), ("CT-01", "Cần Thơ", "02923812233", 3),
)
OTHER_STORES = (
    ("NYC-01", "New York", "2125550148", 10), ("LA-01", "Los Angeles", "3105550172", 8),
    ("LON-01", "London", "2079460811", 8), ("SG-01", "Singapore", "62225511", 6),
    ("SYD-01", "Sydney", "292640033", 6),
)
# fmt: on
# The store whose cashiers type the store's own number when a customer gives none.
STORE_PHONE_REUSE_STORE = {"VN": "HCM-01"}


def build_reference(seed: int, home: str, start_ms: int, days: int) -> Reference:
    """Catalogue prices, store list and the campaign calendar for one run."""
    rng = stream(seed, "reference")
    catalog: list[Product] = []
    weights: list[float] = []
    for name, prefix, lo, hi, popularity in CATEGORIES:
        n = 40 + popularity * 3
        for i in range(n):
            # log-uniform prices: many cheap items, a few expensive ones
            vnd = int(lo * (hi / lo) ** rng.random()) // 1000 * 1000
            usd_cents = max(99, round(vnd / VND_PER_USD) * 100 - 1)
            catalog.append(Product(f"{prefix}-{i + 1:05d}", name, vnd, usd_cents))
            weights.append(popularity / (i + 2) ** 0.8)  # zipf-ish popularity within a category
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    by_category: dict[str, tuple[Product, ...]] = {}
    for cat, *_ in CATEGORIES:
        by_category[cat] = tuple(p for p in catalog if p.category == cat)

    store_rows = VN_STORES if home == "VN" else OTHER_STORES
    stores = tuple(Store(s, c, ph) for s, c, ph, _ in store_rows)
    store_cum, total = [], 0.0
    for *_, w in store_rows:
        total += w
        store_cum.append(total)

    return Reference(
        home=home,
        catalog=tuple(catalog),
        catalog_cum_weights=tuple(cum),
        by_category=by_category,
        stores=stores,
        store_cum_weights=tuple(store_cum),
        campaigns=_campaigns(rng, start_ms, days),
        daily_campaign_id="CMP-DAILY-DEALS",
    )


def _campaigns(rng: random.Random, start_ms: int, days: int) -> tuple[Campaign, ...]:
    """A marketing calendar: fortnightly email newsletters, monthly SMS flash sales, weekly pushes."""
    out: list[Campaign] = []
    for day in range(3, days, 14):
        ms = start_ms + day * MS_DAY + (2 + rng.randrange(3)) * MS_HOUR  # 09:00-11:00 Vietnam time
        out.append(Campaign(f"CMP-{_day_code(ms)}-NEWSLETTER", "email", ms, 0.45))
    for day in range(9, days, 30):
        ms = start_ms + day * MS_DAY + (4 + rng.randrange(6)) * MS_HOUR
        out.append(Campaign(f"CMP-{_day_code(ms)}-FLASHSALE-SMS", "sms", ms, 0.4))
    for day in range(5, days, 7):
        ms = start_ms + day * MS_DAY + (10 + rng.randrange(4)) * MS_HOUR
        out.append(Campaign(f"CMP-{_day_code(ms)}-APP-DEALS", "push", ms, 0.15))
    out.sort(key=lambda c: (c.sent_ms, c.campaign_id))
    return tuple(out)


def _day_code(ms: int) -> str:
    return date_str(ms).replace("-", "")
