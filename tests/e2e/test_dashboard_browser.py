"""The dashboard in real headless Chromium against the real stack (no stubs).

Needs the ``stack`` fixture (the whole local stack under load, provided by the e2e suite); the
dashboard itself is built and started by ``conftest_dashboard.dashboard``. Screenshots of every
page, light and dark, go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import conftest_dashboard
import pytest
from conftest_dashboard import login, new_page, screenshot, stack_admin, stack_api_url

from control_plane.client import ApiClient, ApiError

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# the fixtures that build and start the dashboard and the browser (the stack comes from the e2e suite)
dashboard = conftest_dashboard.dashboard
browser = conftest_dashboard.browser

VIEWER = ("e2e-viewer", "viewer-password-123")
RUN = str(int(time.time()))[-6:]  # versions unique per run: a stack may outlive one test run
TRACE_URL = re.compile(r"/trace/?\?id=[0-9a-f]+")


@pytest.fixture(scope="module")
def api(stack: Any) -> Iterator[ApiClient]:
    """An admin client of the same API the dashboard calls (to compare what the page shows)."""
    user, password = stack_admin(stack)
    anon = ApiClient(stack_api_url(stack))
    token = anon.request("POST", "/api/v1/auth/login", json={"username": user, "password": password})["token"]
    anon.close()
    client = ApiClient(stack_api_url(stack), token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin_page(browser: Any, dashboard: Any, stack: Any) -> Iterator[Any]:
    page = new_page(browser)
    login(page, dashboard.url, *stack_admin(stack))
    yield page
    page.context.close()


def wait_fresh(page: Any, timeout_s: float = 20.0) -> None:
    """Wait until the page says it has fresh data (not loading, not down)."""
    page.wait_for_function("() => (document.querySelector('#freshness')?.innerText || '').includes('refreshed')",
                           timeout=timeout_s * 1000)


def no_horizontal_overflow(page: Any) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_login_rejects_a_wrong_password_and_shows_identity_after(browser: Any, dashboard: Any,
                                                                  stack: Any) -> None:
    page = new_page(browser)
    page.goto(f"{dashboard.url}/service?name=cart")  # deep link: login first, then back here
    page.wait_for_selector("#username")
    screenshot(page, "login")
    user, password = stack_admin(stack)
    page.fill("#username", user)
    page.fill("#password", "not-the-password")
    page.click("#sign-in")
    page.wait_for_selector("#login-error")
    assert "Wrong user name or password" in page.inner_text("#login-error")
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/service/?\?name=cart$"), timeout=20_000)
    assert page.inner_text("#identity") == user
    assert page.inner_text("#role") == "admin"
    page.context.close()


def test_overview_shows_every_service_live(admin_page: Any, dashboard: Any, api: ApiClient) -> None:
    expected = sorted(s["name"] for s in api.get("/api/v1/services"))
    admin_page.goto(f"{dashboard.url}/")
    wait_fresh(admin_page)
    admin_page.wait_for_selector(".service-row")
    shown = sorted(admin_page.locator(".service-row td:first-child").all_inner_texts())
    assert [s.strip() for s in shown] == expected
    first = admin_page.inner_text("#freshness")
    time.sleep(7)  # a few refresh intervals: the label moves on without a reload
    assert admin_page.inner_text("#freshness") != first
    admin_page.wait_for_selector("#service-graph circle", timeout=30_000)
    assert no_horizontal_overflow(admin_page)
    screenshot(admin_page, "overview-light")


def test_service_page_has_charts_and_operator_controls(admin_page: Any, dashboard: Any) -> None:
    admin_page.goto(f"{dashboard.url}/service?name=cart&window=15m")
    wait_fresh(admin_page)
    admin_page.wait_for_selector(".recharts-line", timeout=20_000)
    assert admin_page.locator(".restart-button").count() >= 1
    # a confirmation names the effect before anything happens; cancel leaves the fleet alone
    admin_page.click("#set-weights")
    admin_page.wait_for_selector("#confirm-effect")
    assert "of cart's traffic" in admin_page.inner_text("#confirm-effect")
    screenshot(admin_page, "service-confirm")
    admin_page.get_by_role("button", name="Cancel").click()
    assert no_horizontal_overflow(admin_page)
    screenshot(admin_page, "service-light")


def test_trace_search_opens_a_waterfall(admin_page: Any, dashboard: Any) -> None:
    admin_page.goto(f"{dashboard.url}/traces?service=frontend&window=15m")
    wait_fresh(admin_page)
    admin_page.wait_for_selector(".trace-link", timeout=20_000)
    screenshot(admin_page, "traces-light")
    admin_page.locator(".trace-link").first.click()
    admin_page.wait_for_url(TRACE_URL)
    admin_page.wait_for_selector("#waterfall .span-row", timeout=20_000)
    assert admin_page.locator("#waterfall .span-row").count() >= 2  # frontend calls other services
    admin_page.locator("#waterfall .span-row").nth(1).click()
    admin_page.wait_for_selector("#span-details")
    # the selected span is in the shareable URL (the page updates it right after the click lands)
    admin_page.wait_for_url(re.compile(r"[?&]span=[0-9a-f]+"), timeout=10_000)
    screenshot(admin_page, "trace-light")


def test_a_log_line_links_to_its_trace(admin_page: Any, dashboard: Any) -> None:
    admin_page.goto(f"{dashboard.url}/logs?service=checkout")
    wait_fresh(admin_page)
    admin_page.wait_for_selector(".log-trace-link", timeout=30_000)
    admin_page.click("#live-toggle")  # pause the tail so the line stays put
    admin_page.wait_for_function("() => location.search.includes('live=0')")
    screenshot(admin_page, "logs-light")
    admin_page.locator(".log-trace-link").first.click()
    admin_page.wait_for_url(TRACE_URL)
    admin_page.wait_for_selector("#waterfall .span-row", timeout=20_000)


def test_admin_pages(admin_page: Any, dashboard: Any) -> None:
    admin_page.goto(f"{dashboard.url}/audit")
    admin_page.wait_for_selector("#audit-table", timeout=20_000)
    screenshot(admin_page, "audit-light")
    admin_page.goto(f"{dashboard.url}/tokens")
    wait_fresh(admin_page)
    admin_page.get_by_placeholder("name (who or what uses it)").fill(f"e2e-ci-{int(time.time())}")
    admin_page.click("#create-token")
    admin_page.wait_for_selector("#new-token-secret", timeout=20_000)
    assert len(admin_page.inner_text("#new-token-secret")) >= 16  # shown once
    screenshot(admin_page, "tokens-light")


def test_every_page_in_the_dark_theme(browser: Any, dashboard: Any, stack: Any) -> None:
    page = new_page(browser, dark=True)
    login(page, dashboard.url, *stack_admin(stack))
    for name, path in [("overview", "/"), ("service", "/service?name=checkout"), ("traces", "/traces"),
                       ("logs", "/logs"), ("audit", "/audit"), ("tokens", "/tokens"), ("rollouts", "/rollouts")]:
        page.goto(f"{dashboard.url}{path}")
        page.wait_for_selector("#main-content")
        wait_fresh(page)
        assert no_horizontal_overflow(page), path
        screenshot(page, f"{name}-dark")
    page.context.close()


def test_viewer_sees_no_controls_and_the_api_refuses_a_forged_one(browser: Any, dashboard: Any,
                                                                   api: ApiClient) -> None:
    try:
        api.request("POST", "/api/v1/users", json={"name": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    except ApiError as exc:
        assert exc.status == 409  # already there from an earlier run
    page = new_page(browser)
    login(page, dashboard.url, *VIEWER)
    assert page.inner_text("#role") == "viewer"
    nav = page.locator("a").all_inner_texts()
    assert "Rollouts" not in nav and "Audit" not in nav and "Tokens" not in nav
    page.goto(f"{dashboard.url}/service?name=cart")
    wait_fresh(page)
    assert page.locator(".restart-button").count() == 0
    assert page.locator("#set-weights").count() == 0
    assert page.get_by_role("button", name="Scale…").count() == 0
    screenshot(page, "service-viewer")
    # the viewer's own session token, replayed by hand, is refused by the API
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "fleetdeck_token")
    instance = api.get("/api/v1/services/cart")["versions"][0]["instances"][0]["id"]
    forged = ApiClient(api._http.base_url.__str__().rstrip("/"), token)
    with pytest.raises(ApiError) as refused:
        forged.request("POST", f"/api/v1/instances/{instance}/restart")
    forged.close()
    assert refused.value.status == 403
    page.context.close()


def _deploy(api: ApiClient, service: str, version: str, faults: dict[str, Any]) -> None:
    api.request("PUT", f"/api/v1/services/{service}/versions/{version}", json={"replicas": 1, "faults": faults})


def _start_rollout_in_ui(page: Any, base: str, service: str, version: str, steps: str, analysis: str,
                         hold: bool = False) -> str:
    page.goto(f"{base}/rollouts?service={service}")
    wait_fresh(page)
    page.get_by_placeholder("new version, e.g. v2").fill(version)
    page.get_by_placeholder("weights: 10,25,50").fill(steps)
    page.get_by_placeholder("analysis s").fill(analysis)
    if hold:
        page.click("#hold")
    page.click("#start-rollout")
    page.wait_for_url(re.compile(r"/rollout/?\?id="), timeout=20_000)
    return page.url


def test_a_bad_version_rolls_back_with_its_reason_shown(admin_page: Any, dashboard: Any, api: ApiClient) -> None:
    version = f"v9bad-{RUN}"
    _deploy(api, "cart", version, {"error_rate": 0.5, "latency_ms": 0, "crash_after": 0, "leak_kb_per_request": 0})
    _start_rollout_in_ui(admin_page, dashboard.url, "cart", version, "20,50", "60")
    # progress arrives live: no reload from here on
    admin_page.wait_for_function(
        "() => (document.querySelector('#rollout-phase')?.innerText || '') === 'rolled_back'", timeout=180_000)
    why = admin_page.inner_text("#rollout-why")
    assert why.startswith("rolled back:") and len(why) > len("rolled back: ")
    assert admin_page.locator("#rollout-history tr").count() >= 3
    screenshot(admin_page, "rollout-rolled-back")


def test_a_healthy_version_is_promoted_by_hand(admin_page: Any, dashboard: Any, api: ApiClient) -> None:
    version = f"v9good-{RUN}"
    _deploy(api, "catalog", version, {"error_rate": 0.0, "latency_ms": 0, "crash_after": 0,
                                      "leak_kb_per_request": 0})
    _start_rollout_in_ui(admin_page, dashboard.url, "catalog", version, "10", "0", hold=True)
    admin_page.wait_for_selector("#cmd-promote-full", timeout=60_000)
    screenshot(admin_page, "rollout-progressing")
    admin_page.click("#cmd-promote-full")
    admin_page.wait_for_function(
        "() => (document.querySelector('#rollout-phase')?.innerText || '') === 'promoted'", timeout=120_000)
    assert admin_page.locator(".rollout-command").count() == 0  # nothing left to do
    screenshot(admin_page, "rollout-promoted")
