"""Identifier and attribute normalisers (pure Python)."""

from __future__ import annotations

import pytest

from spark_jobs.normalise import (
    fold_text,
    normalise_email,
    normalise_identifier_rows,
    normalise_phone,
    normalise_postcode,
    normalise_token,
)
from spark_jobs.rules import load_rules

RULES = load_rules().normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Đào", "nguyen thi dao"),
        ("NGUYEN THI DAO", "nguyen thi dao"),
        ("  Trần   Văn-Đức ", "tran van duc"),
        ("O'Brien", "o brien"),
        ("Zoë Ångström", "zoe angstrom"),
        ("   ", None),
    ],
)
def test_fold_text_strips_diacritics_including_vietnamese(raw, expected):
    assert fold_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Nguyen.Thanh+shop@Gmail.com\t", "nguyenthanh@gmail.com"),
        ("n.g.uyen@googlemail.com", "nguyen@gmail.com"),
        ("Anna.Smith+news@outlook.com", "anna.smith@outlook.com"),
        ("ANNA.SMITH@YAHOO.COM", "anna.smith@yahoo.com"),
        ("ｆｕｌｌｗｉｄｔｈ@example.vn", "fullwidth@example.vn"),  # NFKC folds full-width letters
    ],
)
def test_emails_are_normalised_with_provider_rules(raw, expected):
    assert normalise_email(raw, RULES) == (expected, None)


@pytest.mark.parametrize("raw", ["not-an-email", "a@", "@gmail.com", "a b@gmail.com", "+tag@gmail.com"])
def test_invalid_emails_are_dropped_with_a_reason(raw):
    assert normalise_email(raw, RULES) == (None, "invalid email")


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        ("0912 345 678", None, "+84912345678"),
        ("+84 912 345 678", None, "+84912345678"),
        ("84912345678", None, "+84912345678"),  # country code without '+'
        ("(091) 234-5678", None, "+84912345678"),
        ("(212) 555-1234", "US", "+12125551234"),
        ("(415) 555-2671", None, "+14155552671"),  # a VN landline reading is not mobile; the US reading is
        ("0044 7911 123456", None, "+447911123456"),
        ("9078 0074", "Singapore", "+6590780074"),
    ],
)
def test_phones_become_e164(raw, hint, expected):
    assert normalise_phone(raw, hint, "VN", RULES) == (expected, None)


def test_landlines_and_garbage_are_not_used_to_stitch():
    assert normalise_phone("028 3823 4567", None, "VN", RULES) == (None, "not a mobile number")
    assert normalise_phone("12345", None, "VN", RULES) == (None, "invalid phone")
    assert normalise_phone("n/a", None, "VN", RULES) == (None, "empty")


def test_tokens_and_postcodes():
    assert normalise_token("  C000123 ") == ("C000123", None)
    assert normalise_token("ABC-def", case="lower") == ("abc-def", None)
    assert normalise_token("   ") == (None, "empty")
    assert normalise_postcode(" sw1a 1aa ") == "SW1A1AA"


def test_one_dispatch_for_every_identifier_type():
    rows = [
        ("token", " C000123 ", None),
        ("token_upper", "ab-1", None),
        ("token_lower", "AB-1", None),
        ("email", "Anna.Smith+news@outlook.com", None),
        ("phone", "(212) 555-1234", "US"),
        ("phone", "12345", None),
    ]
    assert normalise_identifier_rows(rows, "VN", RULES) == [
        ("C000123", None),
        ("AB-1", None),
        ("ab-1", None),
        ("anna.smith@outlook.com", None),
        ("+12125551234", None),
        (None, "invalid phone"),
    ]


def test_a_number_whose_own_readings_fail_is_read_in_the_one_fallback_region_where_it_is_valid():
    # Not a Vietnamese number, and '+' + digits gives no valid number either: only the US reading is valid.
    assert normalise_phone("415 555 2671", None, "VN", RULES) == ("+14155552671", None)
    # Without fallback regions the same digits are not a usable number.
    bare = RULES.model_copy(update={"phone_fallback_regions": ()})
    assert normalise_phone("415 555 2671", None, "VN", bare)[0] is None
