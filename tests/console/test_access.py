"""The access table and the user configuration, on their own (no lake)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from cdp.settings import Settings
from console.access import ROLE_PERMISSIONS, ROLES, ROUTE_PERMISSIONS, may, navigation
from console.app import mount_console
from console.users import UsersConfigError, authenticate, hash_password, parse_users

PUBLIC_ROUTES = {"home", "login_page", "login", "logout", "me_api"}  # each checks the session itself


def _console_routes(tmp_path) -> dict[str, object]:
    app = mount_console(FastAPI(), Settings(lake_root=tmp_path, console_session_secret="s" * 32))
    mount = next(r for r in app.routes if isinstance(r, Mount))
    return {r.name: r for r in mount.routes}  # type: ignore[attr-defined]


def test_every_console_route_is_declared_in_the_access_table_and_no_declaration_is_stale(tmp_path):
    routes = _console_routes(tmp_path)
    assert set(routes) - PUBLIC_ROUTES == set(ROUTE_PERMISSIONS)


def test_roles_hold_only_what_they_need():
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    assert ROLE_PERMISSIONS["executive"] == {"aggregates"}
    assert not may("executive", "verbatims_page") and not may("executive", "case_page")
    assert may("cx_analyst", "verbatims_api") and not may("cx_analyst", "case_api")
    assert may("agent", "case_action_api") and not may("agent", "metrics_page")
    assert may("marketer", "audience_dry_run_api") and not may("marketer", "verbatims_page")
    assert not may("marketer", "case_page") and not may("marketer", "metrics_api")
    assert all(may("admin", name) for name in ROUTE_PERMISSIONS)
    assert not may("nobody", "metrics_page") and not may("admin", "undeclared_route")


def test_navigation_lists_only_permitted_pages():
    assert [name for name, _ in navigation("agent")] == ["cases_page"]
    assert [name for name, _ in navigation("marketer")] == ["audiences_page"]
    assert "users_page" in [name for name, _ in navigation("admin")]


def test_passwords_verify_against_their_argon2_hash_only():
    users = parse_users({"ann": {"role": "agent", "password_hash": hash_password("long enough"), "queue": "care"}})
    assert users["ann"].password_hash.startswith("$argon2id$")
    assert authenticate(users, "ann", "long enough") == users["ann"]
    assert authenticate(users, "ann", "long enougH") is None
    assert authenticate(users, "bob", "long enough") is None
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "boss", "password_hash": "$argon2id$x"}, r"CDP_CONSOLE_USERS\['ann'\].role: 'boss' is not a role"),
        ({"role": "agent", "password_hash": "plain"}, r"\['ann'\].password_hash: not an Argon2 hash"),
        ({"role": "agent", "password_hash": "$argon2id$x", "pwd": 1}, r"unknown field\(s\) pwd"),
        ("agent", "expected an object"),
    ],
)
def test_bad_user_configuration_names_the_user_and_field(entry, message):
    with pytest.raises(UsersConfigError, match=message):
        parse_users({"ann": entry})


def test_cdp_console_add_user_prints_an_entry_that_logs_in():
    import json

    from typer.testing import CliRunner

    from cdp.cli import app

    result = CliRunner().invoke(
        app, ["console", "add-user", "ann", "--role", "agent", "--queue", "care", "--password", "a long password"]
    )
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output.strip().splitlines()[-1])
    users = parse_users(entry)
    assert users["ann"].role == "agent" and users["ann"].queue == "care"
    assert authenticate(users, "ann", "a long password") is not None
    refused = CliRunner().invoke(app, ["console", "add-user", "ann", "--role", "boss", "--password", "a long password"])
    assert refused.exit_code != 0 and "executive, cx_analyst, agent, marketer" in refused.output
