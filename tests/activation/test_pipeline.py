"""The scheduled exports through the Dagster asset (files and the Postgres CRM destination) on a small lake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import yaml
from deltalake import DeltaTable

from activation.rules import RULES_PATH
from cdp import lake as layout
from orchestration.defs.activation import ACTIVATION_SYNCS_KEY
from orchestration.defs.activation import defs as activation_defs
from orchestration.resources import LakeResource
from tests.activation.conftest import SEND_AT, ActivationLake
from tests.activation.test_destinations import PG_URL


def test_activation_asset_runs_the_scheduled_exports(
    activation_lake: ActivationLake, tmp_path: Path, monkeypatch
) -> None:
    for c in ("c1", "c2"):
        activation_lake.consent(c, "granted", SEND_AT - timedelta(days=30))
    activation_lake.write(["c1", "c2"], [("spring_sale", "marketing", "email", 10)],
                          [("spring_sale", "c1"), ("spring_sale", "c2")])  # fmt: skip
    table = "crm_test_pipeline"
    rules = yaml.safe_load(RULES_PATH.read_text())
    rules["destinations"]["crm"]["table"] = table
    rules["exports"] = [
        {"audience": "spring_sale", "destination": "files"},
        {"audience": "spring_sale", "destination": "crm"},
    ]
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules))
    monkeypatch.setenv("CDP_ACTIVATION_RULES", str(rules_path))
    monkeypatch.setenv("CDP_POSTGRES_URL", PG_URL)
    monkeypatch.setenv("CDP_AS_OF", SEND_AT.isoformat())
    lake = activation_lake.lake
    job = dg.Definitions.merge(
        activation_defs, dg.Definitions(resources={"lake": LakeResource(lake_root=str(lake.root))})
    ).resolve_job_def("activation_job")
    try:
        outcome = job.execute_in_process()
        assert outcome.success
        (event,) = outcome.get_asset_materialization_events()
        assert event.asset_key == ACTIVATION_SYNCS_KEY
        syncs = DeltaTable(lake.uri(layout.ACTIVATION_SYNCS)).to_pyarrow_table().to_pylist()
        assert sorted((s["destination"], s["status"]) for s in syncs if s["status"] == "completed") == [
            ("crm", "completed"),
            ("files", "completed"),
        ]
        with psycopg.connect(PG_URL) as conn:
            assert conn.execute(f"select customer_id from {table} order by 1").fetchall() == [("c1",), ("c2",)]
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"drop table if exists {table}")
