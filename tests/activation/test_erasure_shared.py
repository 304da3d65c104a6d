"""Erasure by an identifier two customers share (a family email): refused with a clear message unless the operator
names one customer (``--customer-id``: the sibling keeps the shared email, in the lake and off the suppression list)
or asks for every customer holding it (``--all-matching``)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from activation.destinations import FileDrop
from activation.erasure import SharedIdentifier, already_erased, erase, resolve
from activation.export import export_audience
from activation.rules import load_rules
from cdp import lake as layout
from cdp.cli import app
from tests.activation.conftest import SEND_AT, ActivationLake

FAMILY = "family.nguyen@yahoo.com"


@pytest.fixture
def family(activation_lake: ActivationLake) -> ActivationLake:
    """c1 and c2 share one email (each has their own phone); c3 is unrelated."""
    a = activation_lake
    a.write(["c1", "c2", "c3"], [("spring_sale", "marketing", "email", 10)],
            [("spring_sale", c) for c in ("c1", "c2", "c3")])  # fmt: skip
    identifiers = [
        {"record_key": f"crm_contacts:CRM-{c}", "source": "crm_contacts", "source_record_id": f"CRM-{c}",
         "id_type": kind, "raw_value": value, "value": value}
        for c in ("c1", "c2", "c3")
        for kind, value in (("email", FAMILY if c != "c3" else a.email(c)), ("phone", a.phone(c)))
    ]  # fmt: skip
    write_deltalake(a.lake.uri(layout.IDENTITY_IDENTIFIERS), pa.Table.from_pylist(identifiers), mode="overwrite")
    customers = DeltaTable(a.lake.uri(layout.CUSTOMERS)).to_pyarrow_table().to_pylist()
    for row in customers:
        if row["customer_id"] != "c3":
            row["email"] = FAMILY
    write_deltalake(a.lake.uri(layout.CUSTOMERS), pa.Table.from_pylist(customers), mode="overwrite")
    return a


def _customers(a: ActivationLake) -> list[tuple[str, str]]:
    table = DeltaTable(a.lake.uri(layout.CUSTOMERS)).to_pyarrow_table()
    return sorted(zip(table["customer_id"].to_pylist(), table["email"].to_pylist(), strict=True))


def test_a_shared_email_is_refused_with_what_to_do(family: ActivationLake) -> None:
    with pytest.raises(SharedIdentifier, match="belongs to 2 customers") as refused:
        resolve(family.lake, value=FAMILY, id_type="email")
    assert refused.value.customer_ids == {"c1", "c2"}
    assert "--customer-id" in str(refused.value) and "--all-matching" in str(refused.value)
    assert not family.lake.exists(layout.ERASURE_RECEIPTS)
    assert len(_customers(family)) == 3


def test_one_customer_by_id_keeps_the_shared_email_for_the_other(family: ActivationLake) -> None:
    person = resolve(family.lake, customer_id="c1")
    assert person.shared_values == 1
    erase(family.lake, person, lookup="customer_id", run_by="dpo")

    # c2's golden record names the family email: a text match on it would have deleted her too.
    assert _customers(family) == [("c2", FAMILY), ("c3", family.email("c3"))]
    assert already_erased(family.lake, family.phone("c1")) is not None  # c1's own phone is suppressed
    assert already_erased(family.lake, FAMILY) is None  # the shared email is not: c2's records keep arriving
    # The erasure rewrote the memberships (deltalake's DELETE writes Arrow string views): the next export reads them.
    drop = FileDrop("files", family.lake.exports_dir())
    report = export_audience(family.lake, load_rules(), "spring_sale", drop, send_time=SEND_AT, dry_run=True)
    assert report.members == 2


def test_all_matching_erases_every_customer_holding_it(family: ActivationLake) -> None:
    person = resolve(family.lake, value=FAMILY, id_type="email", all_matching=True)
    assert person.customer_ids == {"c1", "c2"}
    erase(family.lake, person, lookup="email", run_by="dpo")
    assert _customers(family) == [("c3", family.email("c3"))]
    assert already_erased(family.lake, FAMILY) is not None


def test_the_command_refuses_then_erases_with_all_matching(family: ActivationLake, monkeypatch) -> None:
    monkeypatch.setenv("CDP_LAKE_ROOT", str(family.lake.root))
    monkeypatch.setenv("CDP_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    runner = CliRunner()
    refused = runner.invoke(app, ["erase", "--email", FAMILY.upper()], terminal_width=200)
    output = " ".join(refused.output.split())
    assert refused.exit_code == 1, output
    assert "belongs to 2 customers" in output and "--customer-id" in output and "nothing deleted" in output
    assert not family.lake.exists(layout.ERASURE_RECEIPTS)

    done = runner.invoke(app, ["erase", "--email", FAMILY, "--all-matching"], terminal_width=200)
    output = " ".join(done.output.split())
    assert done.exit_code == 0, output
    assert "2 customer(s)" in output and "online store had nothing" in output and FAMILY not in output
    assert _customers(family) == [("c3", family.email("c3"))]
