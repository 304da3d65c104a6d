"""A small lake for activation: bronze consent and contact history in the contract schemas, the identity map, and
the gold columns activation reads (customers, traits, audiences, memberships) written directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from deltalake import DeltaTable, write_deltalake

from activation.consent_ranges import ranges_query
from cdp import lake as layout
from cdp.lake import Lake
from ingest.contracts import SOURCES
from marts.source_tables import bronze_schema
from tests.activation.webhook_server import server_factory  # noqa: F401 (a fixture for every module)
from tests.marts.conftest import LakeWriter

SEND_AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # 10:00 in Ho Chi Minh City
ACTIVATION_MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts" / "_activation__models.yml"
_ARROW_TYPES = {"varchar": pa.string(), "boolean": pa.bool_(), "timestamp with time zone": pa.timestamp("us", tz="UTC")}


def history_schema(table: layout.Table) -> pa.Schema:
    """The Arrow schema of an activation history mart, from its enforced dbt contract."""
    models = {m["name"]: m for m in yaml.safe_load(ACTIVATION_MODELS.read_text())["models"]}
    return pa.schema([(c["name"], _ARROW_TYPES[c["data_type"]]) for c in models[table.name]["columns"]])


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ActivationLake:
    """People are ``c1``..``cN`` with email ``name.cN@example.com`` and phone ``+8490000000N``."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.writer = LakeWriter(lake)
        self.consents: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.customers: list[str] = []
        self._ids = 0  # consent and message ids stay unique when the lists are cleared between writes

    @staticmethod
    def email(c: str) -> str:
        return f"person.{c}@example.com"

    @staticmethod
    def phone(c: str) -> str:
        return f"+8490000{int(c[1:]):04d}"

    def consent(self, c: str, status: str, at: datetime, purpose: str = "marketing", channel: str = "email") -> None:
        self._ids += 1
        cid = f"CNS-{self._ids:04d}"
        self.consents.append({"consent_id": cid, "customer_ref": c, "email": self.email(c), "purpose": purpose,
                              "channel": channel, "status": status, "occurred_at": at})  # fmt: skip
        self.writer.link(c, "consent_events", cid, at)

    def message(self, c: str, at: datetime, purpose: str = "marketing", channel: str = "email") -> None:
        self._ids += 1
        mid = f"MSG-{self._ids:04d}"
        self.messages.append({"message_id": mid, "channel": channel, "recipient": self.email(c), "sent_at": at,
                              "purpose": purpose})  # fmt: skip
        self.writer.link(c, "messages_sent", mid, at)

    def write(
        self,
        customers: list[str],
        audiences: list[tuple[str, str, str, int]],
        members: list[tuple[str, str]],
        holdout: frozenset[tuple[str, str]] = frozenset(),
        traits: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        traits = traits or {}
        self.customers = customers
        if self.consents:
            self.writer.bronze("consent_events", self.consents)
        if self.messages:
            self.writer.bronze("messages_sent", self.messages)
        for c in customers:
            self.writer.link(c, "crm_contacts", f"CRM-{c}", SEND_AT - timedelta(days=400))
        self.writer.write_identity()
        self.build_history()
        _overwrite(self.lake, layout.CUSTOMERS, [
            {"customer_id": c, "first_name": f"Firstname{c}", "last_name": f"Lastname{c}", "email": self.email(c),
             "phone": self.phone(c), "country": "VN"} for c in customers
        ])  # fmt: skip
        _overwrite(self.lake, layout.CUSTOMER_TRAITS, [
            {"customer_id": c, "age_band": "35_44", "gender": "female", "preferred_category": "beauty",
             "open_cases": 0, "is_recent_detractor": False, **traits.get(c, {})} for c in customers
        ])  # fmt: skip
        _overwrite(self.lake, layout.AUDIENCES, [
            {"name": n, "purpose": p, "channel": ch, "priority": pr} for n, p, ch, pr in audiences
        ])  # fmt: skip
        self.set_members(members, holdout)

    def build_history(self) -> None:
        """What `cdp build` makes of bronze consent events and messages for activation: every one resolved to its
        customer through the identity map (gold.customer_consent_history and gold.customer_contact_history;
        test_history_marts.py checks that the dbt models give these same rows)."""
        con = duckdb.connect()
        con.register("identity_map", DeltaTable(self.lake.uri(layout.IDENTITY_MAP)).to_pyarrow_table())
        for source, table, sql in (
            ("consent_events", layout.CUSTOMER_CONSENT_HISTORY,
             "select i.customer_id, b.purpose, b.channel, b.status, b.status = 'granted' as is_granted, "
             "b.occurred_at, b.consent_id, b._ingested_at as ingested_at from bronze b join identity_map i "
             "on i.source = 'consent_events' and i.source_record_id = b.consent_id"),
            ("messages_sent", layout.CUSTOMER_CONTACT_HISTORY,
             "select i.customer_id, b.channel, b.purpose, b.sent_at, b.message_id, b.campaign_id, "
             "b._ingested_at as ingested_at from bronze b join identity_map i "
             "on i.source = 'messages_sent' and i.source_record_id = b.message_id"),
        ):  # fmt: skip
            bronze = layout.bronze(source)
            if self.lake.exists(bronze):
                con.register("bronze", DeltaTable(self.lake.uri(bronze)).to_pyarrow_table())
            else:  # no such file yet: an empty bronze table in the contract's schema
                con.register("bronze", bronze_schema(SOURCES[source]).empty_table())
            rows = con.sql(sql).to_arrow_table().cast(history_schema(table))
            write_deltalake(self.lake.uri(table), rows, mode="overwrite")
            con.unregister("bronze")
        # The consent ranges the export's gate reads (dbt model customer_consent_ranges, the same query).
        con.register("history", DeltaTable(self.lake.uri(layout.CUSTOMER_CONSENT_HISTORY)).to_pyarrow_table())
        ranges = con.sql(ranges_query("history")).to_arrow_table()
        write_deltalake(
            self.lake.uri(layout.CUSTOMER_CONSENT_RANGES), ranges, mode="overwrite", schema_mode="overwrite"
        )
        con.close()

    def set_members(self, members: list[tuple[str, str]], holdout: frozenset[tuple[str, str]] = frozenset()) -> None:
        rows = [
            {"membership_id": f"{a}-{c}", "audience_name": a, "customer_id": c,
             "entered_at": SEND_AT - timedelta(days=1), "exited_at": None, "exit_reason": None,
             "is_holdout": (a, c) in holdout}
            for a, c in members
        ]  # fmt: skip
        schema = pa.schema(
            [("membership_id", pa.string()), ("audience_name", pa.string()), ("customer_id", pa.string()),
             ("entered_at", pa.timestamp("us", tz="UTC")), ("exited_at", pa.timestamp("us", tz="UTC")),
             ("exit_reason", pa.string()), ("is_holdout", pa.bool_())]
        )  # fmt: skip
        write_deltalake(self.lake.uri(layout.AUDIENCE_MEMBERSHIPS), pa.Table.from_pylist(rows, schema=schema),
                        mode="overwrite")  # fmt: skip


def _overwrite(lake: Lake, table: layout.Table, rows: list[dict[str, Any]]) -> None:
    write_deltalake(lake.uri(table), pa.Table.from_pylist(rows), mode="overwrite", schema_mode="overwrite")


@pytest.fixture
def activation_lake(lake: Lake) -> ActivationLake:
    return ActivationLake(lake)
