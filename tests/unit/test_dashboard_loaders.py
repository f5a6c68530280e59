"""What each page fetches, through the real ApiClient over an httpx.MockTransport (no server),
and how a refresh turns failures into the banner instead of stale numbers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Self

import httpx
import pytest

from control_plane.client import ApiClient, ApiError
from dashboards.state import client as client_module
from dashboards.state import loaders
from dashboards.state.base import call_api, refresh_with

Handler = Callable[[httpx.Request], httpx.Response]


def fake_api(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """Answer GETs from ``routes`` (path → JSON, or an int status for an error)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": request.url.path}})
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"code": "collectors_unavailable",
                                                          "message": "the collectors are unavailable"}})
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handle)


def client_for(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> ApiClient:
    return ApiClient("http://api.test", "tok", transport=fake_api(routes, seen))


SERVICES = [{"name": "cart", "listener_port": 8101, "active_rollout": None,
             "versions": [{"version": "v1", "replicas": 1, "weight": 100,
                           "instances": [{"id": "cart-v1-1", "health": "ready", "restarts": 0}]}]}]
OVERVIEW = {"services": [{"service": "cart", "rps": 2.0, "error_ratio": 0.0, "p95": 0.05,
                          "trend": {"rps": [[1, 2.0]], "error_ratio": [[1, 0.0]], "p95": [[1, 0.05]]}}]}
GRAPH = {"nodes": [{"service": "frontend", "spans": 10, "errors": 0}, {"service": "cart", "spans": 5, "errors": 0}],
         "edges": [{"source": "frontend", "target": "cart", "requests": 5, "errors": 0}]}


def test_overview_combines_services_and_metrics():
    seen: list[httpx.Request] = []
    data = loaders.load_overview(client_for({
        "/api/v1/services": SERVICES, "/api/v1/overview/metrics": OVERVIEW,
        "/api/v1/health": {"status": "ok", "prometheus": "up", "collectors": "up"}}, seen), {})
    assert data["warnings"] == []
    assert data["rows"][0]["rps"] == "2.00/s"
    assert all(r.headers["Authorization"] == "Bearer tok" for r in seen)


def test_graph_asks_for_the_window_and_shows_calls_as_rates():
    seen: list[httpx.Request] = []
    data = loaders.load_graph(client_for({"/api/v1/service-graph": GRAPH}, seen), {}, now=10_000.0)
    assert seen[0].url.params["start"] == str(10_000 - 900)
    assert {n["id"] for n in data["graph_nodes"]} == {"frontend", "cart"} and data["graph_note"] == ""
    assert data["graph_edges"][0]["label"] == "0.01/s"


def test_overview_says_plainly_when_prometheus_and_collectors_are_down():
    data = loaders.load_overview(client_for({
        "/api/v1/services": SERVICES, "/api/v1/overview/metrics": 503,
        "/api/v1/health": {"status": "ok", "prometheus": "down", "collectors": "down"}}), {})
    assert any("Prometheus cannot be reached" in w for w in data["warnings"])
    assert data["rows"][0]["rps"] == "—"  # no number rather than an old one
    graph = loaders.load_graph(client_for({"/api/v1/service-graph": 503}), {})
    assert graph["graph_nodes"] == [] and graph["graph_note"].startswith("service graph:")


def test_overview_main_request_failure_raises():
    with pytest.raises(ApiError) as info:
        loaders.load_overview(client_for({"/api/v1/services": 503}), {})
    assert info.value.status == 503


def test_auth_failure_of_a_secondary_source_is_not_swallowed():
    with pytest.raises(ApiError):
        loaders.load_overview(client_for({"/api/v1/services": SERVICES, "/api/v1/health": 401}), {})


def test_service_page_queries_window_and_role_dependent_rollouts():
    seen: list[httpx.Request] = []
    routes = {"/api/v1/services/cart": SERVICES[0],
              "/api/v1/services/cart/metrics": {"versions": {"v1": {"rps": [[1, 1.0]]}}},
              "/api/v1/telemetry/services/cart/operations": {"items": [{"operation": "GET /cart"}]},
              "/api/v1/rollouts": [{"id": "r1", "service": "cart", "state": "promoted"},
                                   {"id": "r2", "service": "catalog", "state": "promoted"}]}
    data = loaders.load_service(client_for(routes, seen), {"name": "cart", "window": "1h", "show_rollouts": "1"})
    metrics_req = next(r for r in seen if r.url.path.endswith("/metrics"))
    assert metrics_req.url.params["range"] == "1h" and metrics_req.url.params["step"] == "45s"
    assert data["operations"] == ["GET /cart"] and [r["id"] for r in data["rollouts"]] == ["r1"]
    seen.clear()
    loaders.load_service(client_for(routes, seen), {"name": "cart", "window": "junk"})
    assert not any(r.url.path == "/api/v1/rollouts" for r in seen)  # a viewer does not ask


def test_trace_search_params_pass_only_meaningful_filters():
    params = loaders.trace_search_params({"service": "cart", "status": "error", "min_duration_ms": "100",
                                          "max_duration_ms": "abc", "operation": "", "window": "5m"}, now=1000.0)
    assert params == {"start": 700, "end": 1000, "limit": 100, "service": "cart", "status": "error",
                      "min_duration_ms": 100}


def test_trace_view_loads_spans_details_and_logs():
    trace = {"trace_id": "ab", "spans": [{"span_id": "s1", "name": "GET /", "service": "frontend",
                                          "start_ns": 10**18, "end_ns": 10**18 + 10**6, "status": {"code": "ok"}}]}
    data = loaders.load_trace(client_for({"/api/v1/traces/ab": trace,
                                          "/api/v1/logs": {"items": [{"id": 1, "time_ns": 10**18, "body": "hi",
                                                                      "trace_id": "ab", "service": "frontend"}]}}),
                              {"id": "ab"})
    assert data["span"]["span_id"] == "s1" and data["logs"][0]["body"] == "hi"


def test_log_tail_asks_only_for_newer_lines():
    seen: list[httpx.Request] = []
    loaders.load_logs(client_for({"/api/v1/logs": {"items": []}}, seen), {"service": "cart"}, since=123.5)
    assert seen[0].url.params["start"] == "123.5" and seen[0].url.params["service"] == "cart"


def test_injected_factory_is_used_by_commands():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"ok": True})

    client_module.set_client_factory(lambda token: ApiClient("http://api.test", token,
                                                             transport=httpx.MockTransport(handle)))
    try:
        call_api("tok", "POST", "/api/v1/instances/cart-v1-1/restart")
    finally:
        client_module.set_client_factory(None)
    assert seen[0].method == "POST" and seen[0].headers["Authorization"] == "Bearer tok"


class FakeProxy:
    """Stands in for Reflex's background-task state proxy: attributes plus ``async with``."""

    def __init__(self) -> None:
        self._busy = 0.0
        self.token = "tok"
        self.now = 0.0
        self.last_ok = 0.0
        self.last_error = ""
        self.warnings: list[str] = []
        self.rows: list[Any] = ["old"]
        self.locks = 0

    async def __aenter__(self) -> Self:
        self.locks += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _apply(state: Any, data: dict[str, Any]) -> None:
    state.rows = data["rows"]


async def _refresh(routes: dict[str, Any], state: FakeProxy) -> None:
    client_module.set_client_factory(lambda token: client_for(routes))
    try:
        await refresh_with(state, lambda c, p: {"rows": c.get("/api/v1/x"), "warnings": []}, {}, _apply)
    finally:
        client_module.set_client_factory(None)


async def test_refresh_success_marks_fresh():
    state = FakeProxy()
    await _refresh({"/api/v1/x": ["new"]}, state)
    assert state.rows == ["new"] and state.last_error == "" and state.last_ok > 0 and state._busy == 0.0


async def test_refresh_failure_sets_the_banner_and_keeps_old_rows_out_of_view():
    state = FakeProxy()
    state.last_ok = 5.0
    await _refresh({"/api/v1/x": 503}, state)
    assert "unavailable" in state.last_error and state.last_ok == 5.0 and state._busy == 0.0


async def test_refresh_401_ends_the_session():
    state = FakeProxy()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, content=json.dumps({"error": {"code": "unauthorized", "message": "expired"}}))

    client_module.set_client_factory(lambda token: ApiClient("http://api.test", token,
                                                             transport=httpx.MockTransport(handle)))
    try:
        await refresh_with(state, lambda c, p: {"rows": c.get("/api/v1/x")}, {}, _apply)
    finally:
        client_module.set_client_factory(None)
    assert state.token == "" and "sign in" in state.last_error


async def test_refresh_skips_when_one_is_already_running():
    state = FakeProxy()
    state._busy = time.time()
    await _refresh({"/api/v1/x": ["new"]}, state)
    assert state.rows == ["old"] and state.locks == 1


async def test_a_refresh_claim_left_by_a_cancelled_one_expires():
    state = FakeProxy()
    state._busy = time.time() - 60  # a refresh cancelled by a reload never released its claim
    await _refresh({"/api/v1/x": ["new"]}, state)
    assert state.rows == ["new"]
