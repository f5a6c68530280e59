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
    # the form keeps its values for the session: set the checkbox to ``hold`` rather than toggling it
    want = "true" if hold else "false"
    if page.get_attribute("#hold", "aria-checked") != want:
        page.click("#hold")
    page.wait_for_function("(w) => document.querySelector('#hold')?.getAttribute('aria-checked') === w",
                           arg=want, timeout=20_000)
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


# --- operator controls, rollout controls and freshness, each acting on the real stack ------------------------

def _poll(check: Any, timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Call ``check()`` until it returns something truthy (the API side of a page action)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


def _version(api: ApiClient, service: str, version: str) -> dict[str, Any]:
    return next((v for v in api.get(f"/api/v1/services/{service}")["versions"] if v["version"] == version), {})


def _version_row(page: Any, version: str) -> Any:
    """The row of the versions table (the one with the replica inputs) whose first cell is ``version``."""
    rows = page.locator("tr").filter(has=page.get_by_label("replicas"))
    for i in range(rows.count()):
        row = rows.nth(i)
        if row.locator("td").first.inner_text().strip() == version:
            return row
    raise AssertionError(f"no versions-table row for {version}: {rows.all_inner_texts()}")


def _confirm(page: Any, effect: str) -> None:
    """The dialog names the effect; confirm it and wait for the page to say it is done."""
    page.wait_for_selector("#confirm-effect")
    assert page.inner_text("#confirm-effect") == effect
    page.click("#confirm-button")
    page.wait_for_selector("#action-message", timeout=30_000)
    assert page.inner_text("#action-message") == f"Done: {effect}"


def _haproxy_share(stack: Any, service: str, version: str) -> float:
    weights = stack.haproxy_weights(service)
    total = sum(weights.values())
    return sum(w for name, w in weights.items() if name.split("__")[0] == version) / total if total else 0.0


def test_operator_controls_scale_set_weights_and_restart_for_real(admin_page: Any, dashboard: Any, api: ApiClient,
                                                                  stack: Any) -> None:
    service, stable, new = "cart", "v1", f"v7ops-{RUN}"
    api.request("PUT", f"/api/v1/services/{service}/versions/{new}", json={"replicas": 0})  # known, not running
    page = admin_page
    try:
        page.goto(f"{dashboard.url}/service?name={service}&window=15m")
        wait_fresh(page)
        page.wait_for_function(f"() => document.body.innerText.includes({new!r})", timeout=20_000)

        # scale the new version from 0 to 1 replica: the API then has its instance, ready
        row = _version_row(page, new)
        row.get_by_label("replicas").fill("1")
        row.get_by_role("button", name="Scale…").click()
        _confirm(page, f"Start 1 instance of {service} {new}: 0 → 1 replicas.")
        screenshot(page, "service-scaled")
        instance = _poll(lambda: next((i for i in _version(api, service, new).get("instances", [])
                                       if i["health"] == "ready"), None), 90, f"{new}'s instance to be ready")
        assert _version(api, service, new)["replicas"] == 1
        page.wait_for_function(f"() => document.body.innerText.includes({instance['id']!r})", timeout=30_000)
        assert _haproxy_share(stack, service, new) == 0.0  # running, but no traffic before the weights say so

        # weights through the dialog: the API and HAProxy itself change
        others = [v["version"] for v in api.get(f"/api/v1/services/{service}")["versions"]
                  if v["version"] not in (stable, new)]
        _version_row(page, stable).get_by_label("weight").fill("90")
        _version_row(page, new).get_by_label("weight").fill("10")
        for other in others:
            _version_row(page, other).get_by_label("weight").fill("0")
        page.click("#set-weights")
        wanted = {stable: 90, new: 10, **dict.fromkeys(others, 0)}
        _confirm(page, "Send " + ", ".join(f"{pct}% to {v}" for v, pct in sorted(wanted.items()))
                 + f" of {service}'s traffic, effective immediately.")
        assert {v["version"]: v["weight"] for v in api.get(f"/api/v1/services/{service}")["versions"]} == wanted
        share = _poll(lambda: _haproxy_share(stack, service, new), 20, f"HAProxy to send traffic to {new}")
        assert 0.07 <= share <= 0.13, stack.haproxy_weights(service)
        assert abs(_haproxy_share(stack, service, stable) + share - 1.0) < 1e-9, stack.haproxy_weights(service)
        screenshot(page, "service-weights-set")

        # restart an instance through its dialog: the API counts the restart
        target = next(i for i in _version(api, service, stable)["instances"] if i["health"] == "ready")
        before = int(target["restarts"])
        restart_row = page.locator("tr").filter(has_text=target["id"]).filter(has=page.locator(".restart-button"))
        restart_row.locator(".restart-button").click()
        page.wait_for_selector("#confirm-effect")
        assert target["id"] in page.inner_text("#confirm-effect")
        _confirm(page, page.inner_text("#confirm-effect"))

        def restarted() -> dict[str, Any] | None:
            now = next((i for i in _version(api, service, stable)["instances"] if i["id"] == target["id"]), None)
            return now if now and int(now["restarts"]) > before else None

        after = _poll(restarted, 90, f"{target['id']}'s restart count to go up from {before}")
        assert int(after["restarts"]) == before + 1
        # and the page shows the new count without a reload
        page.wait_for_function(
            """([id, n]) => [...document.querySelectorAll('tr')].some(
                   tr => tr.innerText.includes(id) && [...tr.querySelectorAll('td')].some(td => td.innerText.trim() === n))""",
            arg=[target["id"], str(before + 1)], timeout=30_000)
        screenshot(page, "service-restarted")
    finally:  # leave cart as the other tests expect it: all traffic on v1, the extra version gone
        api.request("PUT", f"/api/v1/services/{service}/weights",
                    json={"weights": {v["version"]: (100 if v["version"] == stable else 0)
                                      for v in api.get(f"/api/v1/services/{service}")["versions"]}})
        api.request("DELETE", f"/api/v1/services/{service}/versions/{new}")


def _phase_shown(page: Any, phase: str, timeout_s: float = 60.0) -> None:
    page.wait_for_function("(p) => (document.querySelector('#rollout-phase')?.innerText || '') === p",
                           arg=phase, timeout=timeout_s * 1000)


def _rollout(api: ApiClient, rid: str) -> dict[str, Any]:
    return api.get(f"/api/v1/rollouts/{rid}")


def test_rollout_pause_resume_abort_with_reason_and_retry(admin_page: Any, dashboard: Any, api: ApiClient,
                                                          stack: Any) -> None:
    service, version = "shipping", f"v8ctl-{RUN}"
    reason = f"e2e abort {RUN}: latency looks off on the canary"
    _deploy(api, service, version, {"error_rate": 0.0, "latency_ms": 0, "crash_after": 0, "leak_kb_per_request": 0})
    page = admin_page
    url = _start_rollout_in_ui(page, dashboard.url, service, version, "10", "0", hold=True)
    rid = url.split("id=", 1)[1].split("&")[0]
    try:
        spec_steps = _rollout(api, rid)["spec"]["steps"]
        assert "pause" in spec_steps[-1] and not (spec_steps[-1]["pause"] or {}).get("duration"), spec_steps
        # held at the pause without a duration: waiting for a manual promote
        def at_hold() -> bool:
            r = _rollout(api, rid)
            return r["phase"] == "progressing" and r["step"]["index"] == len(spec_steps) - 1

        _poll(at_hold, 120, "the rollout to reach its hold step")
        _phase_shown(page, "progressing")
        page.wait_for_selector("#cmd-pause", timeout=30_000)

        page.click("#cmd-pause")
        _phase_shown(page, "paused")
        assert _rollout(api, rid)["phase"] == "paused"
        page.wait_for_selector("#cmd-resume", timeout=30_000)
        screenshot(page, "rollout-paused")
        page.click("#cmd-resume")
        _phase_shown(page, "progressing")
        assert _rollout(api, rid)["phase"] == "progressing"
        page.wait_for_selector("#cmd-abort", timeout=30_000)

        # an abort without a reason is refused by the page itself: nothing reaches the API
        assert page.input_value("#reason") == ""
        page.click("#cmd-abort")
        page.wait_for_selector("#action-error", timeout=20_000)
        assert "Say why you abort" in page.inner_text("#action-error")
        time.sleep(3)  # a refresh period: had anything been sent, the rollout would be rolling back by now
        assert _rollout(api, rid)["phase"] == "progressing"
        assert not [a for a in api.get("/api/v1/audit", action="abort", limit=50)["items"] if rid in a["path"]]

        # with a reason it rolls back, and the reason is on the page and in the audit trail
        page.fill("#reason", reason)
        page.click("#cmd-abort")
        _phase_shown(page, "rolled_back", 120)
        done = _rollout(api, rid)
        assert done["phase"] == "rolled_back" and done["canary_weight"] == 0
        assert any(reason in (h.get("reason") or "") for h in done["history"]), done["history"]
        page.wait_for_function("(r) => (document.querySelector('#rollout-history')?.innerText || '').includes(r)",
                               arg=reason, timeout=30_000)
        assert reason in page.inner_text("#main-content")
        audit = [a for a in api.get("/api/v1/audit", action="abort", limit=50)["items"] if rid in a["path"]]
        assert len(audit) == 1 and audit[0]["reason"] == reason and audit[0]["outcome"] == "success", audit
        screenshot(page, "rollout-aborted-with-reason")

        # retry from the page starts it again from the first step
        attempt = done["attempt"]
        seen = {h["seq"] for h in done["history"]}
        page.wait_for_selector("#cmd-retry", timeout=30_000)
        page.click("#cmd-retry")

        def retried_once() -> dict[str, Any] | None:
            r = _rollout(api, rid)
            return r if r["attempt"] == attempt + 1 else None

        retried = _poll(retried_once, 30, "the retry to reach the rollout")
        new_events = [h for h in retried["history"] if h["seq"] not in seen]
        retry_event = next((h for h in new_events if "retry #" in (h["reason"] or "")), None)
        assert retry_event and retry_event["reason"].endswith(f":{stack_admin(stack)[0]}"), new_events  # by whom
        assert retry_event["phase"] == "pending" and retry_event["step_index"] == 0, retry_event
        _poll(at_hold, 120, "the retried rollout to walk its steps again to the hold")
        _phase_shown(page, "progressing")
        page.wait_for_selector("#cmd-pause", timeout=30_000)
        screenshot(page, "rollout-retried")
    finally:  # no active rollout left behind for the tests that follow
        current = _rollout(api, rid)
        if current["phase"] not in ("rolled_back", "promoted", "failed", "rolling_back"):
            api.request("POST", f"/api/v1/rollouts/{rid}/abort", json={"reason": "e2e cleanup"})


def test_an_unreachable_api_is_said_plainly_and_recovers(admin_page: Any, dashboard: Any, stack: Any) -> None:
    import os
    import signal

    pid = int((stack.state / "daemon.pid").read_text().strip())
    page = admin_page
    page.goto(f"{dashboard.url}/service?name=cart&window=15m")
    wait_fresh(page, 30)
    page.wait_for_selector(".recharts-line", timeout=30_000)
    assert page.locator("#unreachable-banner").count() == 0
    os.kill(pid, signal.SIGSTOP)  # the API process stops answering (its socket still accepts)
    try:
        stopped_at = time.monotonic()
        # the client times out after 5 s; within a few refresh periods the page must say so
        page.wait_for_selector("#unreachable-banner", timeout=30_000)
        banner = page.inner_text("#unreachable-banner")
        assert "Fleetdeck API" in banner and "Numbers are hidden" in banner, banner
        assert page.inner_text("#freshness").strip() == "not updating"
        assert page.locator(".recharts-line").count() == 0  # no chart left on screen as if current
        # nor instance health, restarts or version counts: dashes until the API answers again
        page.wait_for_function("() => !document.querySelector('#main-content').innerText.includes('ready')",
                               timeout=10_000)
        assert " running" not in page.inner_text("#main-content")
        screenshot(page, "service-api-unreachable")
        time.sleep(max(0.0, 15 - (time.monotonic() - stopped_at)))
        assert page.locator("#unreachable-banner").count() == 1  # still down: still said
    finally:
        os.kill(pid, signal.SIGCONT)
    page.wait_for_selector("#unreachable-banner", state="detached", timeout=60_000)
    wait_fresh(page, 60)
    page.wait_for_selector(".recharts-line", timeout=30_000)
    assert "ready" in page.inner_text("#main-content") and " running" in page.inner_text("#main-content")
    screenshot(page, "service-api-recovered")
