"""How one true identifier is spelled in different sources, and how unique identifiers are minted.

The ``*_variant`` functions render a person's canonical name, phone and email the way a given source
would have captured them: phone numbers in national / international / odd formats, emails with case,
whitespace and gmail dot/+tag variants, names with or without Vietnamese diacritics and with typos.
``IdSpace`` mints phones, email suffixes, customer refs and loyalty cards from seeded permutations of
the global person index, so chunks never collide without sharing any state.
"""

from __future__ import annotations

import random
import re
import unicodedata
from bisect import bisect
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

from .reference import COUNTRIES
from .rng import Permutation

if TYPE_CHECKING:
    from .people import Person


# ---------------------------------------------------------------------------------------------
# Unique identifiers from the global person index.


class IdSpace:
    """Seeded permutations used to mint collision-free phones, emails, refs and loyalty cards."""

    def __init__(self, seed: int, customers: int) -> None:
        self.customers = customers
        self.phone = {
            code: Permutation(len(c.mobile_prefixes) * 10**c.mobile_rest_digits, seed, "phone", code)
            for code, c in COUNTRIES.items()
        }
        digits = max(5, len(str(customers)) + 1)
        self.email_suffix = Permutation(10**digits, seed, "email")
        self.ref = Permutation(2 * max(customers, 5), seed, "ref")
        self.loyalty = Permutation(10**9, seed, "loyalty")

    def phone_nsn(self, country: str, idx: int) -> str:
        c = COUNTRIES[country]
        slot = self.phone[country](idx)
        prefix, rest = divmod(slot, 10**c.mobile_rest_digits)
        if country == "US":
            # NANP: exchange must start 2-9; 555 and N11 exchanges are fictional/service numbers
            exchange, line = divmod(rest, 10_000)
            exchange = 200 + exchange % 800
            if exchange % 100 == 11 or exchange == 555:
                exchange += 1
            return f"{c.mobile_prefixes[prefix]}{exchange:03d}{line:04d}"
        return f"{c.mobile_prefixes[prefix]}{rest:0{c.mobile_rest_digits}d}"

    def customer_ref(self, idx: int, secondary: bool = False) -> str:
        n = self.ref(idx + (self.customers if secondary else 0)) + 1
        return f"C{n:06d}"

    def loyalty_card(self, idx: int) -> str:
        return f"LC{self.loyalty(idx):09d}"


# ---------------------------------------------------------------------------------------------
# Names


@lru_cache(maxsize=4096)
def strip_diacritics(text: str) -> str:
    """'Nguyễn Thị Đào' -> 'Nguyen Thi Dao' (đ is a separate letter, not a combining mark)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_NON_ALPHA = re.compile(r"[^a-z]")


@lru_cache(maxsize=4096)
def ascii_token(text: str) -> str:
    return _NON_ALPHA.sub("", strip_diacritics(text).lower())


def typo(text: str, rng: random.Random) -> str:
    """One adjacent-character swap or one dropped character (as in hand-keyed CRM data)."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    if rng.random() < 0.5 and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i + 1 :]


def name_variant(p: Person, rng: random.Random, strip_p: float, typo_p: float = 0.0) -> tuple[str, str]:
    first, last = p.first_name, p.last_name
    if p.vn_name and rng.random() < strip_p:
        first, last = strip_diacritics(first), strip_diacritics(last)
    if typo_p and rng.random() < typo_p:
        if rng.random() < 0.5:
            first = typo(first, rng)
        else:
            last = typo(last, rng)
    return first, last


# ---------------------------------------------------------------------------------------------
# Phones

_PHONE_STYLES = ("e164", "intl", "national", "compact", "odd")


def format_phone(cc: str, nsn: str, style: str, rng: random.Random) -> str:
    """One number in one of several real-world spellings (the ingest must normalise them all)."""
    if style == "e164":
        return f"+{cc}{nsn}"
    if cc == "84":  # nsn 9 digits, e.g. 912345678
        if style == "intl":
            return f"+84 {nsn[:3]} {nsn[3:6]} {nsn[6:]}"
        if style == "national":
            return f"0{nsn}"
        if style == "compact":
            return f"84{nsn}"
        return rng.choice(
            (
                f"(0{nsn[:2]}) {nsn[2:5]}-{nsn[5:]}",
                f"+84-{nsn[:2]}-{nsn[2:5]}-{nsn[5:]}",
                f"0{nsn[:2]} {nsn[2:5]} {nsn[5:]}",
                f"0{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}",
            )
        )
    if cc == "1":  # 10 digits
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        return {"intl": f"+1 {a}-{b}-{c}", "national": f"({a}) {b}-{c}", "compact": nsn}.get(
            style, rng.choice((f"1-{a}-{b}-{c}", f"{a}.{b}.{c}"))
        )
    if cc == "44":  # 10 digits starting with 7
        a, b = nsn[:4], nsn[4:]
        return {"intl": f"+44 {a} {b}", "national": f"0{a} {b}", "compact": f"0{nsn}"}.get(
            style, rng.choice((f"0044 {a} {b}", f"+44 (0){a} {b}"))
        )
    if cc == "65":  # 8 digits
        a, b = nsn[:4], nsn[4:]
        return {"intl": f"+65 {a} {b}", "national": f"{a} {b}", "compact": nsn}.get(style, f"(65) {a} {b}")
    # AU, 9 digits starting with 4
    a, b, c = nsn[:3], nsn[3:6], nsn[6:]
    return {"intl": f"+61 {a} {b} {c}", "national": f"0{a} {b} {c}", "compact": f"0{nsn}"}.get(
        style, f"+61 (0){a} {b} {c}"
    )


def phone_variant(p: Person, rng: random.Random, cum_weights: tuple[float, ...]) -> str | None:
    """The person's phone as one source spells it; ``cum_weights`` follow _PHONE_STYLES."""
    if p.phone_nsn is None or p.phone_cc is None:
        return None
    style = _PHONE_STYLES[bisect(cum_weights, rng.random() * cum_weights[-1])]
    return format_phone(p.phone_cc, p.phone_nsn, style, rng)


def phone_styles(e164: float, intl: float, national: float, compact: float, odd: float) -> tuple[float, ...]:
    return tuple(accumulate((e164, intl, national, compact, odd)))


# ---------------------------------------------------------------------------------------------
# Emails


def email_variant(email: str | None, rng: random.Random, messy: float) -> str | None:
    """Case / whitespace / gmail dot and +tag variants of the same mailbox, with probability ``messy``."""
    if email is None or rng.random() >= messy:
        return email
    local, _, domain = email.partition("@")
    r = rng.random()
    if domain == "gmail.com" and r < 0.3:
        if rng.random() < 0.5:
            local = local.replace(".", "") if "." in local else local[:3] + "." + local[3:]
        else:
            local = f"{local}+{rng.choice(('shop', 'promo', 'orders', 'vn'))}"
        return f"{local}@{domain}"
    if r < 0.65:
        titled = ".".join(part[:1].upper() + part[1:] for part in local.split("."))
        return f"{titled}@{domain[:1].upper()}{domain[1:]}"
    if r < 0.75:
        return email.upper()
    return rng.choice((f" {email} ", f"{email} ", f" {email}", f"{email}\t"))
