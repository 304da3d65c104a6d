"""CRM contacts kept between builds (int_crm__contacts): a build reads only the copies ingested since the last one
and keeps, per contact, the copy with the latest updated_at (then the latest ingest). Re-exports that win and one
that loses (an older updated_at ingested later), a new contact and an identity merge, built in two builds, give the
golden record a build from scratch of the same lake gives."""

from __future__ import annotations

import shutil
from datetime import timedelta

import duckdb

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from marts.duckdb_delta import load_delta_extension
from tests.marts.conftest import AS_OF, LakeWriter, ts

SELECT = "+customers +customer_orders"  # customer_orders: a relationships test joins the two
FIRST, SECOND = AS_OF - timedelta(days=2), AS_OF + timedelta(hours=6)  # ingest batches
LATER = AS_OF + timedelta(days=1)


def _contact(contact_id: str, first_name: str, updated_at: str, city: str | None = None) -> dict:
    return {"contact_id": contact_id, "first_name": first_name, "city": city, "updated_at": ts(updated_at)}


def _customers(lake: Lake) -> list[tuple]:
    con = duckdb.connect()
    load_delta_extension(con)
    return con.execute(
        f"select customer_id, first_name, first_name_source, city, source_records "
        f"from delta_scan('{lake.uri(layout.CUSTOMERS)}') order by customer_id"
    ).fetchall()


def test_two_builds_keep_the_latest_contacts_as_one_build_from_scratch(tmp_path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    writer.bronze("crm_contacts", [
        _contact("k-a", "Anh", "2025-05-01T00:00:00", "Hanoi"),
        _contact("k-b", "Binh", "2025-05-02T00:00:00", "Hue"),
        _contact("k-c", "Chi", "2025-05-03T00:00:00"),
        # exported twice in one batch: the later updated_at wins within the batch too
        _contact("k-d", "Dung", "2025-05-04T00:00:00"),
        _contact("k-d", "Dung-old", "2025-04-04T00:00:00"),
    ], ingested_at=FIRST)  # fmt: skip
    for customer, contact in (("cus_a", "k-a"), ("cus_b", "k-b"), ("cus_c", "k-c"), ("cus_d", "k-d")):
        writer.link(customer, "crm_contacts", contact, ts("2025-05-01T00:00:00"), FIRST)
    writer.write_identity()
    build_marts(lake, as_of=AS_OF, select=SELECT)
    assert [r[1] for r in _customers(lake)] == ["Anh", "Binh", "Chi", "Dung"]

    # The next batch: k-a re-exported with a later updated_at (wins), k-b re-sent with an older one (loses, although
    # ingested later), a new contact k-e; and identity resolution merged cus_c into cus_e.
    writer.bronze("crm_contacts", [
        _contact("k-a", "Anh-Thu", "2025-06-01T00:00:00", "Da Nang"),
        _contact("k-b", "Binh-stale", "2025-04-01T00:00:00", "Vinh"),
        _contact("k-e", "Em", "2025-06-02T00:00:00"),
    ], ingested_at=SECOND)  # fmt: skip
    writer.link("cus_e", "crm_contacts", "k-e", ts("2025-06-02T00:00:00"), SECOND)
    for row in writer.identity:
        if row["customer_id"] == "cus_c":
            row["customer_id"], row["assigned_at"] = "cus_e", SECOND
    writer.write_identity()
    build_marts(lake, as_of=LATER, select=SELECT)
    incremental = _customers(lake)
    names = {r[0]: (r[1], r[3]) for r in incremental}
    assert names["cus_a"] == ("Anh-Thu", "Da Nang") and names["cus_b"] == ("Binh", "Hue")
    assert "cus_c" not in names and names["cus_e"][0] in ("Chi", "Em")

    # The same final lake built from scratch (no dbt working database, no golden record in the lake).
    fresh = Lake(tmp_path / "fresh")
    shutil.copytree(lake.root, fresh.root)
    shutil.rmtree(fresh.marts_dir())
    shutil.rmtree(fresh.uri(layout.CUSTOMERS))
    build_marts(fresh, as_of=LATER, select=SELECT)
    assert _customers(fresh) == incremental
