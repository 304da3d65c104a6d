"""The SQL forms of the normalisers agree with the Python normalisers wherever they give an answer."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from spark_jobs.normalise import normalise_identifier, normalise_phone
from spark_jobs.rules import load_rules
from spark_jobs.transforms.sql_normalise import phone_text, sql_normalised

pytestmark = pytest.mark.transforms

RULES = load_rules().normalisation
EDGE_CASES = [
    # emails SQL decides
    " Nguyen.Thanh+shop@Gmail.com\t",
    "n.g.uyen@googlemail.com",
    "Anna.Smith+news@outlook.com",
    "ANNA.SMITH@YAHOO.COM",
    "a+b@example.vn",
    "_x-y@sub.domain-name.com.vn",
    "a@x.c",
    "a" * 64 + "@x.vn",
    "a@" + "b" * 63 + ".vn",
    # emails left to Python (or invalid there)
    "+tag@gmail.com",
    "...@gmail.com",
    "a" * 65 + "@x.vn",
    "a@" + "b" * 64 + ".vn",
    "a@" + ".".join(["b" * 60] * 5) + ".vn",
    "a..b@x.vn",
    ".a@x.vn",
    "a.@x.vn",
    "a@x-.vn",
    "a@-x.vn",
    "a@ab--c.vn",
    "a@xn--abc.com",
    "a@x.local",
    "a@mail.localhost",
    "a@x.test",
    "a@x.123",
    "a@x.v1n",
    "a@x",
    "a@@x.vn",
    "a b@x.vn",
    "ｆｕｌｌｗｉｄｔｈ@example.vn",
    "zoë@x.vn",
    "a@x.vn\n",
    "\u00a0a@x.vn",
    "",
    "   ",
    # tokens
    " C000123 ",
    "ab-1",
    "AB-1",
    "c\t1",
    "Straße",
    "ＣＵＳＴ１",
    "null",
]
ALPHABET = "aAzZ09._+-"  # with rare spaces, tabs and "@" mixed in below


def _random_values(count: int) -> list[str]:
    rng = random.Random(20261123)
    values = []
    for _ in range(count):
        alphabet = ALPHABET + rng.choice(["", "", "", " ", "\t", "@"])
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        labels = ["".join(rng.choice("abz09-") for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 3))]
        tld = rng.choice(["vn", "com", "c", "local", "test", "v1", "", "COM"])
        values.append(rng.choice(["", " ", "\t"]) + local + "@" + ".".join([*labels, tld]) + rng.choice(["", " "]))
    return values


@pytest.mark.parametrize("normaliser", ["email", "token", "token_upper", "token_lower"])
def test_sql_gives_the_python_answer_or_none(spark, normaliser):
    values = EDGE_CASES + _random_values(3000)
    sql = sql_normalised(normaliser, F.col("raw"), RULES)
    assert sql is not None
    rows = spark.createDataFrame([(v,) for v in values], "raw string").select("raw", sql.alias("sql")).collect()
    decided = 0
    for row in rows:
        if row.sql is None:
            continue
        decided += 1
        value, reason = normalise_identifier(normaliser, row.raw, None, "VN", RULES)
        assert (row.sql, reason) == (value, None), repr(row.raw)
    assert decided > len(values) // 10  # the SQL form is not trivially "never"


def test_plain_addresses_and_tokens_are_decided_in_sql(spark):
    raws = [" Nguyen.Thanh+shop@Gmail.com\t", "n.g.uyen@googlemail.com", " C000123 "]
    frame = spark.createDataFrame([(v,) for v in raws], "raw string")
    emails = [r[0] for r in frame.select(sql_normalised("email", F.col("raw"), RULES)).collect()]
    tokens = [r[0] for r in frame.select(sql_normalised("token_lower", F.col("raw"), RULES)).collect()]
    assert emails[:2] == ["nguyenthanh@gmail.com", "nguyen@gmail.com"]
    assert tokens[2] == "c000123"
    assert sql_normalised("phone", F.col("raw"), RULES) is None


PHONES = [
    "0912 345 678",
    "(091) 234-5678",
    "+84 912 345 678",
    " +84.912.345.678\t",
    "84912345678",
    "(415) 555-2671",
    "0044 7911 123456",
    "+ 1 (212) 555-1234",
    "028 3823 4567",
    "12345",
    "-",
    "+",
    "",
    # not rewritten: letters, extensions, a '+' inside, other digits
    "1-800-FLOWERS",
    "0912 345 678 ext. 12",
    "(+84) 912 345 678",
    "84+912345678",
    "０９１２ ３４５ ６７８",
    "0912/345/678",
]


def _random_phones(count: int) -> list[str]:
    rng = random.Random(7)
    return [
        rng.choice(["", " ", "+", " +", "\t+"])
        + "".join(rng.choice("0123456789 ().-") for _ in range(rng.randint(0, 16)))
        + rng.choice(["", " ", "\t"])
        for _ in range(count)
    ]


def test_phones_written_with_punctuation_are_read_as_their_digits(spark):
    raws = PHONES + _random_phones(2000)
    frame = spark.createDataFrame([(v,) for v in raws], "raw string")
    texts = dict(frame.select("raw", phone_text(F.col("raw")).alias("text")).collect())
    assert texts["(091) 234-5678"] == texts["0912 345 678"] == "0912345678"
    assert texts[" +84.912.345.678\t"] == texts["+84 912 345 678"] == "+84912345678"
    assert texts["1-800-FLOWERS"] == "1-800-FLOWERS" and texts["(+84) 912 345 678"] == "(+84) 912 345 678"
    for raw, text in texts.items():
        for region in (None, "US"):
            assert normalise_phone(text, region, "VN", RULES) == normalise_phone(raw, region, "VN", RULES), repr(raw)
