"""The configuration object: laptop defaults, CDP_* environment variables, paths independent of the cwd."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from cdp.settings import Settings, project_root


def test_defaults_live_under_the_repository_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in ("CDP_LAKE_ROOT", "CDP_LANDING_ROOT", "CDP_ENV", "CDP_SPARK_ENGINE", "CDP_SPARK_REMOTE"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(_env_file=None)
    assert settings.lake_root == project_root() / "data" / "lake"
    assert settings.landing_root == project_root() / "data" / "landing"
    assert (settings.env, settings.spark_engine, settings.spark_remote) == ("local", "sail", None)


def test_environment_variables_override_every_key(monkeypatch, tmp_path):
    monkeypatch.setenv("CDP_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("CDP_ENV", "prod")
    monkeypatch.setenv("CDP_SPARK_REMOTE", "sc://spark.example:15002")
    monkeypatch.setenv("CDP_AS_OF", "2025-06-30T00:00:00Z")
    monkeypatch.setenv("CDP_MAX_RECORD_BYTES", "32768")
    settings = Settings(_env_file=None)
    assert settings.lake_root == Path(tmp_path / "lake")
    assert (settings.env, settings.spark_remote, settings.max_record_bytes) == (
        "prod",
        "sc://spark.example:15002",
        32768,
    )
    assert settings.observation_time() == datetime(2025, 6, 30, tzinfo=UTC)


def test_as_of_defaults_to_now_in_utc():
    before = datetime.now(UTC)
    assert before <= Settings(_env_file=None).observation_time() <= datetime.now(UTC)


def test_a_naive_as_of_is_read_as_utc():
    assert Settings(_env_file=None, as_of=datetime(2025, 1, 1)).observation_time().tzinfo == UTC


@pytest.mark.parametrize(("key", "value"), [("CDP_ENV", "staging"), ("CDP_SPARK_ENGINE", "flink")])
def test_unknown_names_are_rejected_with_the_allowed_values(monkeypatch, key, value):
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match="Input should be"):
        Settings(_env_file=None)
