"""The Dagster instance for each environment: write DAGSTER_HOME/dagster.yaml before ``dagster dev`` or the daemon.

``local`` keeps runs and event logs in SQLite under DAGSTER_HOME (Dagster's default); ``ci`` and ``prod`` store them
in Postgres, reading the connection string from ``CDP_POSTGRES_URL`` so no password is ever written to a file.
Both share ``dagster_prod.yaml``'s concurrency and telemetry settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cdp.settings import Settings

PROD_CONFIG = Path(__file__).resolve().parent / "dagster_prod.yaml"
POSTGRES_URL_ENV = "CDP_POSTGRES_URL"
_POSTGRES_ENVS = ("ci", "prod")


def instance_config(settings: Settings) -> dict[str, Any]:
    """The dagster.yaml content for ``settings.env`` (a dict, for writing or inspecting)."""
    config = yaml.safe_load(PROD_CONFIG.read_text())
    if settings.env not in _POSTGRES_ENVS:
        del config["storage"]  # no storage section: SQLite files under DAGSTER_HOME
    return config


def write_dagster_home(settings: Settings) -> Path:
    """Create ``settings.dagster_home`` with a dagster.yaml for the environment; return the folder."""
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Written by orchestration.instance.write_dagster_home for env={settings.env}; edit {PROD_CONFIG.name}.\n"
    )
    (home / "dagster.yaml").write_text(header + yaml.safe_dump(instance_config(settings), sort_keys=False))
    return home


def dagster_environment(settings: Settings) -> dict[str, str]:
    """Environment variables for a Dagster process (``dagster dev``, the daemon) started for ``settings``.

    DAGSTER_HOME points at the written instance. For Postgres, CDP_POSTGRES_URL is passed on from Settings (which
    may have read it from the ``.env`` file rather than the environment)."""
    env = {"DAGSTER_HOME": str(settings.dagster_home.resolve())}
    if settings.env in _POSTGRES_ENVS:
        env[POSTGRES_URL_ENV] = settings.postgres_url
    return env


if __name__ == "__main__":
    # `DAGSTER_HOME=$(python -m orchestration.instance) dagster dev ...`: prints only the path, never the URL.
    print(write_dagster_home(Settings()))
