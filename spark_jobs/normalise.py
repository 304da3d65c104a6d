"""Identifier and attribute normalisers: plain Python functions of one value.

Each returns ``(value, None)`` for a usable value or ``(None, reason)`` when the value cannot identify anyone, so
the job can count why identifiers were dropped. The Spark job applies them to *distinct* raw values only (a
handful per person), through pandas UDFs, so their Python cost does not grow with the number of events.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from spark_jobs.rules import Normalisation

Normalised = tuple[str | None, str | None]

# Letters that are not a base letter plus combining marks, so NFD does not strip them.
_SPECIAL_LETTERS = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae"})
_NOT_NAME = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def fold_text(text: str | None) -> str | None:
    """Case-fold, strip diacritics and punctuation: 'Nguyễn Thị Đào' -> 'nguyen thi dao'."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).translate(_SPECIAL_LETTERS)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = _SPACES.sub(" ", _NOT_NAME.sub(" ", text.casefold())).strip()
    return text or None


def normalise_token(raw: str, case: str = "keep") -> Normalised:
    """An opaque id: NFKC and trimmed; ``case`` is keep, upper or lower (for ids whose case carries no meaning)."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        return None, "empty"
    return {"upper": value.upper(), "lower": value.lower()}.get(case, value), None


def normalise_email(raw: str, rules: Normalisation) -> Normalised:
    value = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not value:
        return None, "empty"
    try:
        # Syntax only: no DNS lookups at run time (and none offline).
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None, "invalid email"
    local, domain = checked.local_part.casefold(), checked.domain.casefold()
    provider = rules.email_providers.get(domain)
    if provider is not None:
        if provider.strip_plus_tag:
            local = local.split("+", 1)[0]
        if provider.strip_dots:
            local = local.replace(".", "")
        domain = provider.canonical_domain or domain
    if not local:
        return None, "invalid email"
    return f"{local}@{domain}", None


_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
_NOT_DIGIT = re.compile(r"\D")
Reading = tuple[str, bool]  # (E.164, can be a mobile number)


@lru_cache(maxsize=1 << 16)
def _reading(text: str, region: str | None) -> Reading | None:
    """``text`` read as a number of ``region``: (E.164, mobile?), or None when that reading is not a valid number.

    Cached: the same text comes back with other country hints, and the fallback regions re-read the same texts.
    One ``number_type`` call both validates and types the number (``is_valid_number`` is ``number_type !=
    UNKNOWN`` under the hood, so calling both would match the number against its region's patterns twice)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind in _MOBILE_TYPES


def normalise_phone(raw: str, region_hint: str | None, default_region: str, rules: Normalisation) -> Normalised:
    """E.164 via ``phonenumbers``. Readings are tried in order: the record's country, the default region, '+' +
    digits (a country code written without '+'), then a number valid in exactly one fallback region. With
    ``phone_mobile_only`` the first reading that is a possible mobile number wins (the digits of a US mobile can
    also spell a Vietnamese landline), otherwise the first valid reading.

    Lazy: readings are parsed one at a time and the first that wins ends the search, so a well-formed number costs
    one parse; the fallback regions are only read when no earlier reading wins."""
    text = unicodedata.normalize("NFKC", raw).strip()
    digits = _NOT_DIGIT.sub("", text)
    if not digits:
        return None, "empty"
    any_valid = False
    for reading in _readings(text, digits, phone_region(region_hint), default_region.upper(), rules):
        if reading is None:
            continue
        e164, mobile = reading
        if mobile or not rules.phone_mobile_only:
            return e164, None
        any_valid = True
    return None, "not a mobile number" if any_valid else "invalid phone"


def _readings(
    text: str, digits: str, hinted: str | None, default_region: str, rules: Normalisation
) -> Iterator[Reading | None]:
    for region in dict.fromkeys(r for r in (hinted, default_region) if r):
        yield _reading(text, region)
    if not text.startswith("+"):
        yield _reading("+" + digits, None)
    fallback = {r for region in rules.phone_fallback_regions if (r := _reading(text, region)) is not None}
    if len(fallback) == 1:
        yield fallback.pop()


@lru_cache(maxsize=512)
def phone_region(hint: str | None) -> str | None:
    """An ISO alpha-2 code from a country field that may hold a code or a name ('VN', 'Vietnam', 'Việt Nam')."""
    if not hint:
        return None
    folded = fold_text(hint) or ""
    if len(folded) == 2 and folded.upper() in phonenumbers.SUPPORTED_REGIONS:
        return folded.upper()
    return _COUNTRY_NAMES.get(folded)


_COUNTRY_NAMES = {
    "vietnam": "VN",
    "viet nam": "VN",
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "singapore": "SG",
    "australia": "AU",
}


def normalise_postcode(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = re.sub(r"[^0-9A-Za-z]", "", unicodedata.normalize("NFKC", raw)).upper()
    return value or None


def normalise_identifier(
    normaliser: str, raw: str, region_hint: str | None, default_region: str, rules: Normalisation
) -> Normalised:
    """One identifier with the normaliser its type names in the rules (token, token_upper, token_lower, email,
    phone); ``region_hint`` is only read for phones."""
    if normaliser == "email":
        return normalise_email(raw, rules)
    if normaliser == "phone":
        return normalise_phone(raw, region_hint, default_region, rules)
    return normalise_token(raw, case=normaliser.removeprefix("token").removeprefix("_") or "keep")


def normalise_identifier_rows(
    rows: list[tuple[str, str, str | None]], default_region: str, rules: Normalisation
) -> list[Normalised]:
    """``normalise_identifier`` over (normaliser, raw, region hint) rows: the unit of work a UDF batch sends to a
    worker process (a module-level function, so it pickles by name)."""
    return [normalise_identifier(kind, raw, hint, default_region, rules) for kind, raw, hint in rows]
