"""The identifier normalisers as Spark SQL, for the raw values where SQL gives exactly the Python answer.

The Python normalisers (``spark_jobs.normalise``) are the definition. They run in a Python UDF, and on an engine
that runs UDFs in its own process (embedded Sail) all of that work shares one interpreter lock: one core. Most
identifiers are plain ASCII (``C000123``, ``An.Nguyen+shop@Gmail.com``), and for those the Python answer is a few
string operations that the engine runs natively on every core. These expressions return that answer for the raw
values inside a deliberately narrow subset, and null for every other value, which then goes to Python:

- tokens: printable ASCII (NFKC changes nothing there, and the only whitespace is the space that ``trim`` removes);
- emails: an ASCII dot-atom address with a letters-only top-level domain, optionally surrounded by spaces or tabs,
  within ``email_validator``'s length limits and outside its special-use domains; ``email_validator`` accepts
  every such address unchanged but for the domain's case. Provider rules (dots, "+tags", canonical domains) come
  from the same rules object as the Python normaliser's.
- phones: never (validity and type need ``phonenumbers``' per-region metadata). But a number written with only
  digits, spaces, dots, dashes and parentheses (and maybe a leading '+') reads exactly as its digits do
  (``phonenumbers`` drops that punctuation before reading), so :func:`phone_text` gives such numbers one text:
  "(091) 234-5678" and "0912345678" are normalised once.

``tests/spark_jobs/test_sql_normalise.py`` checks the two agree on edge cases and on thousands of random values.
"""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from email_validator.rfc_constants import (
    DNS_LABEL_LENGTH_LIMIT,
    DOMAIN_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    LOCAL_PART_MAX_LENGTH,
)
from pyspark.sql import Column
from pyspark.sql import functions as F

from spark_jobs.rules import Normalisation

# Anchored with \z, not $: in Java's regex (JVM Spark) "$" also matches before a final line break.
_PRINTABLE_ASCII = r"^[ -~]*[!-~][ -~]*\z"  # at least one character that is not a space
_LABEL = r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*"  # no leading, trailing or doubled hyphen (so no "ab--" labels either)
_EMAIL = rf"^[ \t]*[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@{_LABEL}(\.{_LABEL})*\.[A-Za-z]+[ \t]*\z"
_SPECIAL_USE = r"(^|\.)(" + "|".join(re.escape(d) for d in SPECIAL_USE_DOMAIN_NAMES) + r")\z"
_LONG_LABEL = r"[^.]{" + str(DNS_LABEL_LENGTH_LIMIT + 1) + ",}"
_PUNCTUATED_NUMBER = r"^[ \t]*\+?[0-9 ().-]*[ \t]*\z"  # tabs only where strip() removes them


def phone_text(raw: Column) -> Column:
    """The text the phone normaliser reads: '+' (if the number starts with one) and the digits, for numbers
    written with only digits and common punctuation; the raw value for anything else (letters, extensions,
    several '+' signs, non-ASCII digits)."""
    plus = F.when(raw.rlike(r"^[ \t]*\+"), F.lit("+")).otherwise(F.lit(""))
    return F.when(raw.rlike(_PUNCTUATED_NUMBER), F.concat(plus, F.regexp_replace(raw, r"[^0-9]", ""))).otherwise(raw)


def sql_normalised(normaliser: str, raw: Column, rules: Normalisation) -> Column | None:
    """The normalised value of ``raw`` where SQL decides it exactly as the Python normaliser would, else null;
    None for a normaliser with no SQL form."""
    if normaliser.startswith("token"):
        case = normaliser.removeprefix("token").removeprefix("_") or "keep"
        value = F.trim(raw)
        value = F.upper(value) if case == "upper" else F.lower(value) if case == "lower" else value
        return F.when(raw.rlike(_PRINTABLE_ASCII), value)
    if normaliser == "email":
        return _email(raw, rules)
    return None


def _email(raw: Column, rules: Normalisation) -> Column:
    address = F.lower(F.regexp_replace(raw, r"^[ \t]+|[ \t]+\z", ""))
    local, domain = F.substring_index(address, "@", 1), F.substring_index(address, "@", -1)
    plain = (
        raw.rlike(_EMAIL)
        & (F.length(local) <= LOCAL_PART_MAX_LENGTH)
        & (F.length(domain) <= DOMAIN_MAX_LENGTH)
        & (F.length(address) <= EMAIL_MAX_LENGTH)
        & ~domain.rlike(_LONG_LABEL)
        & ~domain.rlike(_SPECIAL_USE)
    )
    new_local, new_domain = local, domain
    for name, provider in rules.email_providers.items():
        cleaned = local
        if provider.strip_plus_tag:
            cleaned = F.substring_index(cleaned, "+", 1)
        if provider.strip_dots:
            cleaned = F.translate(cleaned, ".", "")
        new_local = F.when(domain == name, cleaned).otherwise(new_local)
        new_domain = F.when(domain == name, F.lit(provider.canonical_domain or name)).otherwise(new_domain)
    # An empty local part after the provider rules ("+tag@gmail.com") is invalid: Python says why.
    return F.when(plain & (F.length(new_local) > 0), F.concat(new_local, F.lit("@"), new_domain))
