"""The console's API and pages on a built lake: every role against every endpoint, login, CSRF, a case update round
trip, masked verbatims, and pages that say what is not built yet."""

from __future__ import annotations

import logging
import re

import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from cdp import lake as layout
from cdp.lake import Lake
from cdp.settings import Settings
from console.access import ROLES, may
from console.data import TEXT_INSIGHTS
from tests.console.conftest import console_root, csrf_of, login, password_of

CASE, AUDIENCE = "{case}", "{audience}"

# (method, path, route name, body, status when allowed). Bodies of allowed posts are invalid on purpose (422, or a
# refused export), so the table never changes the lake; the round-trip tests below make real changes.
ENDPOINTS = [
    ("GET", "/console/metrics", "metrics_page", None, 200),
    ("GET", "/console/api/metrics", "metrics_api", None, 200),
    ("GET", "/console/drivers", "drivers_page", None, 200),
    ("GET", "/console/api/drivers", "drivers_api", None, 200),
    ("GET", "/console/journeys", "journeys_page", None, 200),
    ("GET", "/console/api/journeys", "journeys_api", None, 200),
    ("GET", "/console/segments", "segments_page", None, 200),
    ("GET", "/console/api/segments", "segments_api", None, 200),
    ("GET", "/console/verbatims", "verbatims_page", None, 200),
    ("GET", "/console/api/verbatims", "verbatims_api", None, 200),
    ("GET", "/console/cases", "cases_page", None, 200),
    ("GET", "/console/api/cases", "cases_api", None, 200),
    ("GET", f"/console/cases/{CASE}", "case_page", None, 200),
    ("GET", f"/console/api/cases/{CASE}", "case_api", None, 200),
    ("POST", f"/console/cases/{CASE}/action", "case_action_form", {"status": "bogus"}, 303),
    ("POST", f"/console/api/cases/{CASE}/actions", "case_action_api", {"status": "bogus"}, 422),
    ("GET", "/console/audiences", "audiences_page", None, 200),
    ("GET", "/console/api/audiences", "audiences_api", None, 200),
    ("GET", f"/console/audiences/{AUDIENCE}", "audience_page", None, 200),
    ("GET", f"/console/api/audiences/{AUDIENCE}/dry-run", "audience_dry_run_api", None, 200),
    ("POST", f"/console/audiences/{AUDIENCE}/export", "audience_export_form", {"destination": "nowhere"}, 403),
    ("POST", f"/console/api/audiences/{AUDIENCE}/exports", "audience_export_api", {}, 422),
    ("GET", "/console/users", "users_page", None, 200),
    ("GET", "/console/api/users", "users_api", None, 200),
]


@pytest.fixture(scope="module")
def some_case(console_settings) -> str:
    from cx.cases import case_queue

    cases = case_queue(Lake(console_settings.lake_root))
    assert cases, "the generated data opens follow-up cases"
    return cases[-1]["case_id"]


@pytest.fixture(scope="module")
def some_audience(console_settings) -> str:
    table = DeltaTable(str(console_settings.lake_root / "gold" / layout.AUDIENCES.name)).to_pyarrow_table()
    return sorted(table.column("name").to_pylist())[0]


def _call(client: TestClient, method: str, path: str, body: dict | None, api: bool):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    token = csrf_of(client)
    if api:
        return client.post(path, json=body, headers={"X-CSRF-Token": token})
    return client.post(path, data={**(body or {}), "csrf_token": token}, follow_redirects=False)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_against_every_endpoint(role, logged_in, some_case, some_audience, caplog):
    client = logged_in(role)
    for method, template, name, body, allowed_status in ENDPOINTS:
        path = template.replace(CASE, some_case).replace(AUDIENCE, some_audience)
        is_api = "/api/" in path
        with caplog.at_level(logging.WARNING, logger="console.app"):
            caplog.clear()
            answer = _call(client, method, path, body, is_api)
        if may(role, name):
            assert answer.status_code == allowed_status, (role, path, answer.status_code, answer.text[:300])
            assert "role may not" not in answer.text
        else:
            assert answer.status_code == 403, (role, path, answer.status_code)
            if is_api:
                assert answer.json()["error"] == "forbidden"
            assert f"the {role} role may not open this page" in answer.text
            # logged with the role and path only: no username
            assert [r.getMessage() for r in caplog.records] == [f"console: forbidden role={role} path={path}"]
            assert f"{role}1" not in caplog.text


def test_navigation_shows_each_role_its_own_pages(logged_in):
    page = logged_in("agent").get("/console/cases")
    assert "Case queue" in page.text and "NPS &amp; CSAT" not in page.text and "Audiences" not in page.text
    page = logged_in("executive").get("/console/metrics")
    assert "Key drivers" in page.text and "Case queue" not in page.text and "Verbatims" not in page.text


def test_charts_are_svg_drawn_on_the_server(logged_in):
    client = logged_in("executive")
    metrics = client.get("/console/metrics").text
    assert metrics.count('<svg role="img" aria-label="') >= 2  # NPS and CSAT at least
    assert 'aria-label="NPS by month"' in metrics and "95% interval" in metrics
    assert "<script" not in metrics  # no JavaScript, no CDN
    journeys = client.get("/console/journeys").text
    assert 'aria-label="Purchase funnel"' in journeys and 'aria-label="Retention by first-purchase month"' in journeys
    assert 'aria-label="Audience sizes"' in client.get("/console/segments").text


def test_metrics_api_returns_trends_with_intervals(logged_in):
    trends = logged_in("executive").get("/console/api/metrics").json()["trends"]
    nps = [p for p in trends["NPS"] if p["ci_low"] is not None]
    assert nps and all(-100 <= p["ci_low"] <= p["value"] <= p["ci_high"] <= 100 for p in nps)
    csat = [p for p in trends["CSAT"] if p["ci_low"] is not None]
    assert csat and all(0 <= p["ci_low"] <= p["value"] <= p["ci_high"] <= 100 for p in csat)


def test_login_failures_and_logged_out_access(console_app, caplog):
    client = TestClient(console_app)
    assert client.get("/console/metrics", follow_redirects=False).headers["location"].endswith("/console/login")
    assert client.get("/console/api/metrics").status_code == 401
    token = client.get("/console/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    with caplog.at_level(logging.INFO, logger="console.app"):
        for username, password in (("admin1", "wrong password"), ("nobody", password_of("admin")), ("admin1", "")):
            answer = client.post(
                "/console/login", data={"username": username, "password": password, "csrf_token": token}
            )
            assert answer.status_code in (401, 422)
            if answer.status_code == 401:
                assert "Wrong username or password." in answer.text
    assert "admin1" not in caplog.text and "nobody" not in caplog.text
    assert client.get("/console/api/metrics").status_code == 401


def test_session_cookie_is_signed_httponly_and_samesite(console_app):
    client = TestClient(console_app)
    cookie = client.get("/console/login").headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    forged = TestClient(console_app)
    forged.cookies.set("cdp_console", "eyJ1c2VyIjogImFkbWluMSJ9.forged.signature")
    assert forged.get("/console/api/users").status_code == 401


def test_logout_ends_the_session(logged_in):
    client = logged_in("admin")
    answer = client.post("/console/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/console/api/users").status_code == 401


def test_posts_without_the_csrf_token_are_refused(console_app, logged_in, some_case):
    client = logged_in("agent")
    answer = client.post(f"/console/api/cases/{some_case}/actions", json={"status": "contacted", "note": "x"})
    assert answer.status_code == 403 and answer.json()["error"] == "csrf_failed"
    answer = client.post(
        f"/console/api/cases/{some_case}/actions",
        json={"status": "contacted"},
        headers={"X-CSRF-Token": "not-the-token"},
    )
    assert answer.status_code == 403
    answer = client.post(f"/console/cases/{some_case}/action", data={"status": "contacted"})
    assert answer.status_code == 403 and "security token" in answer.text
    assert client.post("/console/logout", data={}).status_code == 403
    fresh = TestClient(console_app)
    answer = fresh.post("/console/login", data={"username": "agent1", "password": password_of("agent")})
    assert answer.status_code == 403  # a login form needs the token of the login page


def test_an_agent_closes_a_case_round_trip(logged_in, console_settings):
    from cx.cases import case_queue

    client = logged_in("agent")
    open_cases = client.get("/console/api/cases", params={"status": "open"}).json()["cases"]
    assert open_cases
    case_id = open_cases[0]["case_id"]
    detail = client.get(f"/console/api/cases/{case_id}").json()
    assert detail["case"]["status"] == "open"
    assert detail["contact"]["customer_id"] == detail["case"]["customer_id"]  # agents see contact details
    assert {"orders", "surveys"} <= set(detail["history"])
    token = csrf_of(client)
    contacted = client.post(
        f"/console/api/cases/{case_id}/actions",
        json={"status": "contacted", "note": "Called, left a message"},
        headers={"X-CSRF-Token": token},
    )
    assert contacted.status_code == 200 and contacted.json()["status"] == "contacted"
    refused = client.post(
        f"/console/api/cases/{case_id}/actions", json={"status": "resolved"}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 422 and "note" in refused.json()["message"]
    resolved = client.post(
        f"/console/cases/{case_id}/action",
        data={"status": "resolved", "note": "Refunded the delivery fee", "csrf_token": token},
    )
    assert resolved.status_code == 200 and "Recorded: case is now resolved." in resolved.text
    after = client.get(f"/console/api/cases/{case_id}").json()["case"]
    assert after["status"] == "resolved" and after["resolution_note"] == "Refunded the delivery fee"
    assert [a["actor"] for a in after["history"]] == ["agent1", "agent1"]
    assert [c["status"] for c in case_queue(Lake(console_settings.lake_root)) if c["case_id"] == case_id] == [
        "resolved"
    ]


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def test_the_analyst_reads_verbatims_with_personal_data_masked(logged_in):
    shown = logged_in("cx_analyst").get("/console/api/verbatims").json()["verbatims"]
    assert shown and all("customer_id" not in v and "source_id" not in v for v in shown)
    assert {"sentiment_label", "topics", "text"} <= set(shown[0])
    assert not EMAIL.search(" ".join(v["text"] for v in shown))
    assert not EMAIL.search(logged_in("cx_analyst").get("/console/verbatims").text)


def test_the_console_masks_verbatims_itself_when_a_text_still_holds_contact_details(
    tmp_path, console_settings, console_users
):
    """A text insights row whose text kept an e-mail and a phone (say, written by an older analyser) is masked by
    the console before an analyst sees it."""
    from deltalake import write_deltalake

    built = DeltaTable(str(console_settings.lake_root / "gold" / TEXT_INSIGHTS.name)).to_pyarrow_table()
    row = {**built.slice(0, 1).to_pylist()[0], "masked_text": "Call me on 0903 123 456 or mail an.nguyen@example.com"}
    lake_root = tmp_path / "lake"
    write_deltalake(
        str(lake_root / "gold" / TEXT_INSIGHTS.name), built.schema.empty_table().from_pylist([row], schema=built.schema)
    )
    settings = Settings(lake_root=lake_root, console_users=console_users, console_session_secret="s" * 32)
    client = TestClient(console_root(settings))
    login(client, "cx_analyst1", password_of("cx_analyst"))
    [verbatim] = client.get("/console/api/verbatims").json()["verbatims"]
    assert "an.nguyen@example.com" not in verbatim["text"] and "123 456" not in verbatim["text"]
    assert "[email]" in verbatim["text"] and "[phone]" in verbatim["text"]


def test_the_marketer_sees_dry_run_counts_and_no_person(logged_in, some_audience):
    client = logged_in("marketer")
    dry = client.get(f"/console/api/audiences/{some_audience}/dry-run").json()
    assert dry["members"] == dry["decisions"]["send"] + dry["decisions"]["suppress"]
    assert sum(r["people"] for r in dry["reasons"]) == dry["members"]
    assert "cus_" not in client.get(f"/console/audiences/{some_audience}").text
    assert "cus_" not in client.get("/console/api/audiences").text


def test_pages_say_what_is_not_built_yet(tmp_path, console_users):
    settings = Settings(lake_root=tmp_path / "empty", console_users=console_users, console_session_secret="s" * 32)
    client = TestClient(console_root(settings))
    login(client, "admin1", password_of("admin"))
    for page in ("metrics", "drivers", "journeys", "segments", "cases", "audiences"):
        answer = client.get(f"/console/{page}")
        assert answer.status_code == 200, page
        assert "not built yet: run `cdp build`" in answer.text, page
    assert client.get("/console/api/cases").status_code == 503


def test_the_marketer_triggers_only_the_exports_the_rules_schedule(logged_in, console_settings):
    from deltalake import DeltaTable as Delta

    client = logged_in("marketer")
    token = csrf_of(client)
    dry = client.get("/console/api/audiences/lapsed_buyers/dry-run").json()
    assert {"destination": "files", "mode": "mirror"} in dry["exports"]
    sent = client.post(
        "/console/api/audiences/lapsed_buyers/exports", json={"destination": "files"}, headers={"X-CSRF-Token": token}
    )
    assert sent.status_code == 200, sent.text
    report = sent.json()
    assert report["status"] == "completed" and report["sent"] == dry["decisions"]["send"]
    syncs = Delta(str(console_settings.lake_root / "audit" / layout.ACTIVATION_SYNCS.name)).to_pyarrow_table()
    assert report["sync_id"] in syncs.column("sync_id").to_pylist()
    assert "console:marketer1" in syncs.column("run_by").to_pylist()
    refused = client.post(
        "/console/api/audiences/lapsed_buyers/exports",
        json={"destination": "ads_hashed"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403 and refused.json()["error"] == "export_not_allowed"
