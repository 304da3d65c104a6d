"""``cdp features apply|materialize|training-set`` and ``cdp api-key`` on a small lake."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from cdp.cli import app
from cdp.lake import Lake
from feature_store.auth import ApiKeys
from tests.feature_store.conftest import ts, write_customers, write_memberships, write_trait_history

ANA = "cus_00000000000000a1"


def test_apply_materialize_and_training_set(lake: Lake, tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_FEATURE_PROJECT", "cli_test")
    write_trait_history(
        lake,
        [
            {"customer_id": ANA, "as_of": ts("2025-01-01"), "frequency": 1, "p_alive": 1.0},
            {"customer_id": ANA, "as_of": ts("2025-02-01"), "frequency": 3, "p_alive": 0.5},
        ],
    )
    write_customers(lake, [{"customer_id": ANA, "last_seen_at": ts("2025-01-20")}])
    write_memberships(lake, [])
    entities = tmp_path / "entities.csv"
    pd.DataFrame(
        {
            "customer_id": [ANA, ANA],
            "event_timestamp": ["2025-01-15T00:00:00Z", "2025-02-15T00:00:00Z"],
            "churned": [0, 1],
        }
    ).to_csv(entities, index=False)
    out = tmp_path / "train" / "churn.parquet"
    runner, lake_args = CliRunner(), ["--lake", str(lake.root)]

    applied = runner.invoke(app, ["features", "apply", *lake_args])
    loaded = runner.invoke(app, ["features", "materialize", *lake_args, "--as-of", "2025-02-01T00:00:00Z"])
    made = runner.invoke(
        app,
        [
            "features",
            "training-set",
            *lake_args,
            "--entities",
            str(entities),
            "--service",
            "churn_v1",
            "--out",
            str(out),
        ],
    )
    unknown = runner.invoke(
        app, ["features", "training-set", *lake_args, "--entities", str(entities), "--service", "x", "--out", str(out)]
    )

    assert applied.exit_code == 0, applied.output
    assert "personalisation_v1" in applied.output
    assert loaded.exit_code == 0, loaded.output
    assert "9 views loaded up to 2025-02-01" in " ".join(loaded.output.split())
    assert made.exit_code == 0, made.output
    training = pd.read_parquet(out)
    assert list(training["frequency"]) == [1, 3]
    assert list(training["p_alive"]) == [1.0, 0.5]
    assert list(training["churned"]) == [0, 1]
    assert unknown.exit_code == 1
    assert "no feature service 'x'" in " ".join(unknown.output.split())


def test_apply_before_any_build_says_what_to_run(lake: Lake):
    result = CliRunner().invoke(app, ["features", "apply", "--lake", str(lake.root)])

    assert result.exit_code == 1
    assert "run `cdp build`" in " ".join(result.output.split())  # rich wraps long lines


def test_api_key_prints_a_key_and_its_digest_entry():
    result = CliRunner().invoke(app, ["api-key", "--scope", "profiles:read", "--scope", "pii:read"])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key, entry = lines[1], json.loads(lines[3])
    assert ApiKeys(entry).scopes(key) == {"profiles:read", "pii:read"}
    assert CliRunner().invoke(app, ["api-key", "--scope", "admin"]).exit_code == 2
