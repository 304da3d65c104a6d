"""The consent flags of customer_traits (one per purpose x channel): true only where the consent in force at as_of
is a grant; a withdrawal, a grant after as_of, no event or a purpose or channel outside the configured lists is
false; customer_consents in the lake holds the event in force per combination. Built by dbt on the small lake of
test_build plus consent events for two customers."""

from __future__ import annotations

from datetime import timedelta

from cdp import lake as layout
from cdp.lake import Lake
from marts.build import build_marts
from tests.marts.conftest import AS_OF, LakeWriter
from tests.marts.test_build import _read, _seed_lake

PURPOSES = ("marketing", "personalisation", "analytics", "profiling")
CHANNELS = ("email", "sms", "push", "phone", "ads")
DAY = timedelta(days=1)
# (customer, purpose, channel, status, days before as_of; negative: after as_of)
EVENTS = [
    ("cus_one", "marketing", "email", "granted", 30),
    ("cus_one", "marketing", "sms", "granted", 30),
    ("cus_one", "marketing", "sms", "withdrawn", 10),  # withdrawn since
    ("cus_one", "profiling", "ads", "granted", 5),  # the last combination of the lists
    ("cus_one", "personalisation", "push", "withdrawn", 20),
    ("cus_one", "personalisation", "push", "granted", -1),  # after as_of: not yet in force
    ("cus_one", "newsletter", "email", "granted", 3),  # a purpose outside the lists
    ("cus_usd", "analytics", "phone", "granted", 2),
    ("cus_usd", "marketing", "email", "withdrawn", 2),
]
GRANTED = {("cus_one", "marketing", "email"), ("cus_one", "profiling", "ads"), ("cus_usd", "analytics", "phone")}


def test_each_flag_is_its_own_purpose_and_channel(tmp_path):
    lake = Lake(tmp_path / "lake")
    writer = LakeWriter(lake)
    rows = []
    for i, (customer, purpose, channel, status, days) in enumerate(EVENTS):
        consent_id, at = f"CNS-{i}", AS_OF - days * DAY
        rows.append({"consent_id": consent_id, "purpose": purpose, "channel": channel, "status": status,
                     "occurred_at": at})  # fmt: skip
        writer.link(customer, "consent_events", consent_id, at)
    writer.bronze("consent_events", rows)
    _seed_lake(writer)  # orders, a CRM contact and the identity map (with the links above)
    build_marts(lake, as_of=AS_OF)

    traits = {r["customer_id"]: r for r in _read(lake, layout.CUSTOMER_TRAITS)}
    for customer in ("cus_one", "cus_usd", "cus_a"):
        flags = {(p, c): traits[customer][f"consent_{p}_{c}"] for p in PURPOSES for c in CHANNELS}
        assert flags == {(p, c): (customer, p, c) in GRANTED for p in PURPOSES for c in CHANNELS}, customer
    # the consent in force per combination with an event, in the lake (as of as_of, so not the later grant)
    in_force = {(r["customer_id"], r["purpose"], r["channel"]): r["is_granted"]
                for r in _read(lake, layout.CUSTOMER_CONSENTS)}  # fmt: skip
    assert {k for k, granted in in_force.items() if granted} == GRANTED | {("cus_one", "newsletter", "email")}
    assert in_force[("cus_one", "personalisation", "push")] is False and len(in_force) == 7
