"""Identifier extraction and normalisation on inline bronze rows (pure transforms)."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs import processes as processes_module
from spark_jobs.rules import SourceRules, load_rules
from spark_jobs.transforms.identifiers import extract_identifiers, normalise_attributes, normalise_identifiers

pytestmark = pytest.mark.transforms

RULES = load_rules()
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
CRM = SourceRules(
    record_id="contact_id",
    observed_at="updated_at",
    identifiers={"email": ("email",), "phone": ("phone", "phone2")},
    phone_region="country",
)
CRM_SCHEMA = "contact_id string, email string, phone string, phone2 string, country string, updated_at timestamp"


def _incidence(spark, rows):
    return extract_identifiers("crm_contacts", spark.createDataFrame(rows, CRM_SCHEMA), CRM)


def test_one_row_per_record_type_and_raw_value_keeping_the_earliest_time(spark):
    rows = [
        ("K1", " a@x.vn ", "0912 345 678", "0912 345 678", "VN", T0 + dt.timedelta(days=1)),
        ("K1", " a@x.vn ", "0912 345 678", None, "VN", T0),  # the same record again, seen earlier
        ("K2", "  ", None, "", None, T0),  # nothing usable
    ]
    got = sorted(
        (r.record_key, r.id_type, r.raw_value, r.observed_at.replace(tzinfo=dt.UTC), r.region_hint)
        for r in _incidence(spark, rows).collect()
    )
    assert got == [
        ("crm_contacts:K1", "email", " a@x.vn ", T0, None),  # a country hint only for phones
        ("crm_contacts:K1", "phone", "0912 345 678", T0, "VN"),
    ]


@pytest.mark.parametrize("processes", [1, 2])
def test_country_hints_naming_one_region_normalise_alike(spark, checkpoint, processes):
    rows = [
        ("K1", None, "0912 345 678", None, "VN", T0),
        ("K2", None, "0912 345 678", None, "Việt Nam", T0),
        ("K3", None, "0912 345 678", None, None, T0),  # no hint: the default region (VN)
        ("K4", None, "(212) 555-1234", None, "United States", T0),
        ("K5", None, "(212) 555-1234", None, "US", T0),
        ("K6", None, "n/a", None, "Atlantis", T0),
        ("K7", "Not An Email", None, None, None, T0),
    ]
    normalised = normalise_identifiers(_incidence(spark, rows), RULES, "VN", processes=processes)
    got = {(r.source_record_id, r.id_type): (r.value, r.drop_reason) for r in normalised.collect()}
    # The same answer when the keyed rows are checkpointed first (as an incremental run does).
    staged = normalise_identifiers(_incidence(spark, rows), RULES, "VN", processes=processes, checkpoint=checkpoint)
    assert {(r.source_record_id, r.id_type): (r.value, r.drop_reason) for r in staged.collect()} == got
    assert got == {
        ("K1", "phone"): ("+84912345678", None),
        ("K2", "phone"): ("+84912345678", None),
        ("K3", "phone"): ("+84912345678", None),
        ("K4", "phone"): ("+12125551234", None),
        ("K5", "phone"): ("+12125551234", None),
        ("K6", "phone"): (None, "empty"),
        ("K7", "email"): (None, "invalid email"),
    }


def test_normalising_in_worker_processes_gives_the_inline_answer(spark):
    # Enough distinct phones that each UDF batch is split over the workers.
    rows = [(f"K{i}", None, f"0912 {i:06d}", f"+1 212 555 {i % 10000:04d}", None, T0) for i in range(3000)]
    incidence = _incidence(spark, rows)
    columns = ["record_key", "id_type", "raw_value", "value", "node", "drop_reason"]
    inline = normalise_identifiers(incidence, RULES, "VN", processes=1).select(columns)
    try:
        pooled = normalise_identifiers(incidence, RULES, "VN", processes=2).select(columns)
        assert inline.count() == 6000
        assert pooled.exceptAll(inline).count() == 0 and inline.exceptAll(pooled).count() == 0
    finally:
        processes_module.shutdown()


def test_attributes_fold_with_nulls_and_repeats(spark):
    rows = [
        ("r1", T0, "Nguyễn", "Đào", None, None, None, None),
        ("r2", T0, "NGUYEN", "Dao", None, None, None, " sw1a 1aa "),
        ("r3", T0, None, None, None, None, None, None),
    ]
    schema = (
        "record_key string, observed_at timestamp, first_name string, last_name string, date_of_birth string, "
        "address string, city string, postcode string"
    )
    out = {r.record_key: r for r in normalise_attributes(spark.createDataFrame(rows, schema)).collect()}
    assert (out["r1"].first_name, out["r1"].last_name, out["r1"].city) == ("nguyen", "dao", None)
    assert (out["r2"].first_name, out["r2"].postcode) == ("nguyen", "SW1A1AA")
    assert out["r3"].first_name is None and out["r3"].postcode is None
