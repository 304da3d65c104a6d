"""`cdp audience list|preview` (marts/audience_report.py) on the small lake of test_build: sizes as the
memberships say, the size at each build, a sample with email and phone masked unless asked, and clear errors."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from cdp import cli
from cdp import lake as layout
from cdp.cli import app
from cdp.lake import Lake
from marts.audience_report import AudienceNotFound, audience_sizes, member_sample, size_history
from marts.build import build_marts
from marts.source_tables import OTHER_SOURCE_SCHEMAS
from tests.marts.conftest import AS_OF, LakeWriter, ts
from tests.marts.test_build import _read, _seed_lake

EMAIL, PHONE = "an.nguyen@example.com", "+84912345678"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("report") / "lake")
    writer = LakeWriter(lake)
    _seed_lake(writer)
    # cus_a (a lapsed buyer: one order 136 days before as_of) has an email and a phone on its order, as identity
    # resolution leaves them (the golden record takes emails and phones from the identifiers it used)
    used = [{"node": n, "record_key": "orders:o-a", "source": "orders", "source_record_id": "o-a",
             "observed_at": ts("2025-02-15T10:00:00"), "id_type": t, "raw_value": v, "value": v, "status": "used"}
            for n, (t, v) in enumerate((("email", EMAIL), ("phone", PHONE)))]  # fmt: skip
    schema = OTHER_SOURCE_SCHEMAS[layout.IDENTITY_IDENTIFIERS]
    write_deltalake(lake.uri(layout.IDENTITY_IDENTIFIERS), pa.Table.from_pylist(used, schema=schema))
    build_marts(lake, as_of=AS_OF - timedelta(days=30))
    build_marts(lake, as_of=AS_OF)
    return lake


def _current(lake: Lake, audience: str) -> set[str]:
    rows = _read(lake, layout.AUDIENCE_MEMBERSHIPS, f"audience_name = '{audience}' and exited_at is null")
    return {r["customer_id"] for r in rows}


def test_sizes_are_the_current_memberships(built):
    sizes = {s.name: s for s in audience_sizes(built)}
    assert set(sizes) == {r["name"] for r in _read(built, layout.AUDIENCES)}
    for name, size in sizes.items():
        assert size.members == len(_current(built, name)), name
    assert sizes["lapsed_buyers"].members > 0
    assert [s.priority for s in audience_sizes(built)] == sorted(s.priority for s in sizes.values())


def test_size_history_has_a_size_per_build(built):
    history = size_history(built, "lapsed_buyers")
    assert [at for at, _ in history] == [AS_OF - timedelta(days=30), AS_OF]
    assert history[-1][1] == len(_current(built, "lapsed_buyers"))


def test_the_sample_masks_email_and_phone_unless_asked(built):
    assert "cus_a" in _current(built, "lapsed_buyers")
    masked = {r["customer_id"]: r for r in member_sample(built, "lapsed_buyers", limit=1000)}
    assert masked["cus_a"]["email"] == "a***@example.com"
    assert masked["cus_a"]["phone"] == "+849*****678"
    shown = {r["customer_id"]: r for r in member_sample(built, "lapsed_buyers", limit=1000, show_pii=True)}
    assert (shown["cus_a"]["email"], shown["cus_a"]["phone"]) == (EMAIL, PHONE)
    assert set(masked) == _current(built, "lapsed_buyers")
    assert len(member_sample(built, "lapsed_buyers", limit=2)) == 2


def test_an_unknown_audience_names_the_known_ones(built):
    with pytest.raises(AudienceNotFound, match=r"no audience 'nope'.*lapsed_buyers"):
        member_sample(built, "nope")


def test_the_cli_masks_by_default_and_says_when_the_lake_is_not_built(built, tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setattr(cli.console, "width", 400)  # one line per member, so each value is found whole
    result = runner.invoke(app, ["audience", "preview", "lapsed_buyers", "--lake", str(built.root), "--limit", "1000"],
                           terminal_width=400)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cus_a " in result.output and "a***@example.com" in result.output
    assert EMAIL not in result.output and PHONE not in result.output
    listed = runner.invoke(app, ["audience", "list", "--lake", str(built.root)], terminal_width=400)
    assert listed.exit_code == 0 and "lapsed_buyers" in listed.output
    empty = runner.invoke(app, ["audience", "list", "--lake", str(tmp_path / "none")], terminal_width=400)
    assert empty.exit_code == 1 and "cdp build" in empty.output
