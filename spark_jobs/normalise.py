"""Identifier and attribute normalisers: plain Python functions of one value.

Each returns ``(value, None)`` for a usable value or ``(None, reason)`` when the value cannot identify anyone, so
the job can count why identifiers were dropped. The Spark job applies them to *distinct* raw values only (a
handful per person), through pandas UDFs, so their Python cost does not grow with the number of events.
"""

from __future__ import annotations

import re
import unicodedata
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


def _parse_valid(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalise_phone(raw: str, region_hint: str | None, default_region: str, rules: Normalisation) -> Normalised:
    """E.164 via ``phonenumbers``. Readings are tried in order: the record's country, the default region, '+' +
    digits (a country code written without '+'), then a number valid in exactly one fallback region. With
    ``phone_mobile_only`` the first reading that is a possible mobile number wins (the digits of a US mobile can
    also spell a Vietnamese landline)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None, "empty"
    readings = [
        _parse_valid(text, r) for r in dict.fromkeys(r for r in (_region(region_hint), default_region.upper()) if r)
    ]
    if not text.startswith("+"):
        readings.append(_parse_valid("+" + digits, None))
    fallback = [n for r in rules.phone_fallback_regions if (n := _parse_valid(text, r)) is not None]
    if len({_e164(n) for n in fallback}) == 1:
        readings.append(fallback[0])
    valid = [n for n in readings if n is not None]
    if not valid:
        return None, "invalid phone"
    if rules.phone_mobile_only:
        mobile = [n for n in valid if phonenumbers.number_type(n) in _MOBILE_TYPES]
        if not mobile:
            return None, "not a mobile number"
        valid = mobile
    return _e164(valid[0]), None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=512)
def _region(hint: str | None) -> str | None:
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
