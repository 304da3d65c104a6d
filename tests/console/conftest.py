"""The console's tests run on one real lake: generated data, ingested, resolved and built by dbt (once per session).

Users: one per role, with Argon2 hashes made here; ``logged_in(role)`` gives a TestClient with a session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cdp.lake import Lake
from cdp.settings import Settings
from console.access import ROLES
from console.app import mount_console
from console.users import hash_password


def password_of(role: str) -> str:
    return f"pw-{role}-correct-horse"


@pytest.fixture(scope="session")
def console_users() -> dict[str, dict[str, str]]:
    return {f"{role}1": {"role": role, "password_hash": hash_password(password_of(role))} for role in ROLES}


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory, spark) -> tuple[Lake, Settings]:
    """Generate 300 people, ingest, resolve identities and build every mart (CX and journeys included)."""
    from ingest.job import run_ingest
    from marts.build import build_marts
    from spark_jobs.jobs.resolve import resolve_identities
    from spark_jobs.rules import load_rules
    from synthetic_data import generate, generated_period_end

    root = tmp_path_factory.mktemp("console")
    landing, lake = root / "landing", Lake(root / "lake")
    generate(landing, customers=300, seed=7)
    as_of = generated_period_end(landing)
    assert as_of is not None
    report = run_ingest(spark, lake, landing)
    assert report.reconciles
    resolve_identities(spark, lake, load_rules(), default_region="VN")
    build_marts(lake, as_of=as_of, env="ci")
    return lake, Settings(lake_root=lake.root, landing_root=landing, as_of=as_of, env="ci")


@pytest.fixture(scope="session")
def console_settings(built_lake, console_users) -> Settings:
    _, settings = built_lake
    return settings.model_copy(
        update={"console_users": console_users, "console_session_secret": "test-secret-" + "x" * 32}
    )


def console_root(settings: Settings) -> FastAPI:
    """The console mounted at /console as `cdp serve` mounts it (without the profile API's feature store)."""
    return mount_console(FastAPI(), settings)


@pytest.fixture(scope="session")
def console_app(console_settings) -> FastAPI:
    return console_root(console_settings)


def login(client: TestClient, username: str, password: str) -> None:
    page = client.get("/console/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture
def logged_in(console_app) -> Callable[[str], TestClient]:
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        client = TestClient(console_app)
        clients.append(client)
        login(client, f"{role}1", password_of(role))
        return client

    yield make
    for client in clients:
        client.close()


def csrf_of(client: TestClient) -> str:
    return client.get("/console/api/me").json()["csrf_token"]


ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts" / "console"
