"""The console end to end in headless Chromium (Debian's ``chromium``, driven by Playwright; no browser download).

A real server (uvicorn) on a free port serves the console on the built lake; each role logs in through the form,
opens its pages and sees the charts; an agent closes a case. Screenshots land in tmp/artifacts/console/.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from tests.console.conftest import ARTIFACTS, console_root, password_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _need_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = "Debian's chromium is not installed: apt-get install -y chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(console_settings) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(console_root(console_settings), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "the console server did not start"
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page_for(browser, server):
    contexts = []

    def open_as(role: str):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{server}/console/login")
        page.fill("#username", f"{role}1")
        page.fill("#password", password_of(role))
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _charts_drawn(page) -> int:
    """Charts present and laid out by the browser (an SVG with a real size on screen)."""
    sizes = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.getBoundingClientRect().width)")
    return sum(1 for width in sizes if width > 100)


# role -> (page path, text the page must show, charts it must draw at least)
PAGES = {
    "executive": [
        ("metrics", "NPS by month", 2),
        ("drivers", "Key drivers of NPS", 0),  # the small test lake has too few answers for an estimate
        ("journeys", "Purchase funnel", 2),
        ("segments", "Audience sizes", 1),
    ],
    "cx_analyst": [("metrics", "CSAT by month", 2), ("verbatims", "personal data masked", 0)],
    "agent": [("cases", "Case queue", 0)],
    "marketer": [("audiences", "Dry runs and exports", 1)],
    "admin": [("users", "Console users", 0), ("journeys", "Retention cohorts", 2)],
}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_each_role_logs_in_and_sees_its_pages(role, page_for):
    page = page_for(role)
    assert f"{role}1 ({role})" in page.inner_text("header")
    for path, text, charts in PAGES[role]:
        page.goto(page.url.split("/console/")[0] + f"/console/{path}")
        assert text in page.content(), (role, path)
        assert _charts_drawn(page) >= charts, (role, path)
        _shot(page, f"{role}-{path}")


def test_a_forbidden_page_is_refused_in_the_browser(page_for):
    page = page_for("agent")
    answer = page.goto(page.url.split("/console/")[0] + "/console/metrics")
    assert answer is not None and answer.status == 403
    assert "the agent role may not open this page" in page.inner_text("main")
    _shot(page, "agent-forbidden")


def test_an_agent_closes_a_case_in_the_browser(page_for):
    page = page_for("agent")
    page.click("#cases tbody tr:first-child a")
    page.wait_for_load_state()
    assert page.inner_text("#case-status") in ("open", "contacted")
    assert page.locator("#contact").count() == 1  # the customer's contact details
    page.select_option("#status", "resolved")
    page.fill("#note", "Called the customer and refunded the delivery fee")
    page.click("#record")
    page.wait_for_load_state()
    assert "Recorded: case is now resolved." in page.inner_text("main")
    assert page.inner_text("#case-status") == "resolved"
    assert page.inner_text("#case-resolution_note") == "Called the customer and refunded the delivery fee"
    _shot(page, "agent-case-resolved")


def test_a_marketer_reads_an_audience_dry_run_in_the_browser(page_for):
    page = page_for("marketer")
    page.click('a:has-text("high_clv_at_risk")')
    page.wait_for_load_state()
    assert page.locator("#decisions tbody tr").count() >= 1
    assert "would be sent" in page.inner_text("main") and "Export to files (mirror)" in page.inner_text("main")
    assert "cus_" not in page.content()  # counts, never a person
    _shot(page, "marketer-dry-run")
