"""The telemetry proxy to the collectors, and the control plane's own metrics and traces."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_api_support import free_port, running_api

from control_plane.api.roles import Role

pytestmark = pytest.mark.component

SEEN: list[httpx.Request] = []


def fake_collectors(request: httpx.Request) -> httpx.Response:
    """The collectors' query API as far as the proxy cares (contract in docs/CONTRACTS.md)."""
    SEEN.append(request)
    path = request.url.path
    if path == "/api/traces":
        return httpx.Response(200, json={"items": [{"trace_id": "ab" * 16, "service": "cart"}],
                                         "next_cursor": "c2"})
    if path == "/api/traces/" + "ab" * 16:
        return httpx.Response(200, json={"trace_id": "ab" * 16, "spans": []})
    if path.startswith("/api/traces/"):
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no trace 00"}})
    if path == "/api/logs":
        return httpx.Response(500, text="boom")
    if path == "/api/logs/tail":
        events = b"".join(b"data: " + json.dumps({"n": i}).encode() + b"\n\n" for i in range(3))
        return httpx.Response(200, content=events, headers={"content-type": "text/event-stream"})
    if path == "/api/services":
        return httpx.Response(200, json=["cart", "catalog"])
    if path == "/api/service-graph":
        return httpx.Response(400, json={"detail": "start must be before end"})
    return httpx.Response(404, json={})


@pytest.fixture(scope="module")
def proxied():  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with running_api("sqlite", collectors_url="http://collectors.test",
                     collectors_transport=httpx.MockTransport(fake_collectors),
                     tracer_provider=provider) as api:
        yield api, exporter
    provider.shutdown()


def test_traces_pass_filters_through(proxied) -> None:  # type: ignore[no-untyped-def]
    api, _ = proxied
    SEEN.clear()
    with api.client(Role.VIEWER) as c:
        resp = c.get("/traces", params=[("service", "cart"), ("status", "error"), ("attr", "a=1"),
                                        ("attr", "b=2"), ("limit", "5")])
        one = c.get("/traces/" + "ab" * 16)
        missing = c.get("/traces/" + "00")
    assert resp.status_code == 200 and resp.json()["next_cursor"] == "c2"
    assert SEEN[0].url.params.get_list("attr") == ["a=1", "b=2"] and SEEN[0].url.params["service"] == "cart"
    assert one.json()["trace_id"] == "ab" * 16
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "no trace 00"


def test_collector_failures_become_our_errors(proxied) -> None:  # type: ignore[no-untyped-def]
    api, _ = proxied
    with api.client(Role.VIEWER) as c:
        broken = c.get("/logs")
        refused = c.get("/service-graph")
        services = c.get("/telemetry/services")
    assert broken.status_code == 503 and broken.json()["error"]["code"] == "service_unavailable"
    assert refused.status_code == 422 and "start must be before end" in refused.json()["error"]["message"]
    assert services.json() == ["cart", "catalog"]


def test_log_tail_streams_server_sent_events(proxied) -> None:  # type: ignore[no-untyped-def]
    api, _ = proxied
    with api.client(Role.VIEWER) as c, c.stream("GET", "/logs/tail", params={"service": "cart"}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        text = "".join(resp.iter_text())
    assert [json.loads(line[6:])["n"] for line in text.splitlines() if line.startswith("data: ")] == [0, 1, 2]


def test_deployer_cannot_read_telemetry(proxied) -> None:  # type: ignore[no-untyped-def]
    api, _ = proxied
    with api.client(Role.DEPLOYER) as c:
        assert c.get("/traces").status_code == 403


def test_unreachable_collectors_are_a_clear_503() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with running_api("sqlite", collectors_url=url) as api, api.client(Role.VIEWER) as c:
        resp = c.get("/traces")
        tail = c.get("/logs/tail")
        health = c.get("/health")
    assert resp.status_code == 503 and tail.status_code == 503
    err = resp.json()["error"]
    assert err["code"] == "service_unavailable" and url in err["message"] and "unavailable" in err["message"]
    assert health.json()["collectors"] == "down"


def test_own_metrics_by_route_template_and_status(proxied) -> None:  # type: ignore[no-untyped-def]
    api, _ = proxied
    with api.client(Role.ADMIN) as c:
        c.get("/users/someone-" + "x")
        c.get("/users/someone-" + "y")
    want = 'fleetdeck_api_requests_total{method="GET",route="/api/v1/users/{name}",status="404"} 2.0'
    deadline = time.monotonic() + 5  # observed just after the last byte is sent
    with httpx.Client(base_url=api.url) as raw:
        while want not in (text := raw.get("/metrics").text) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert want in text
    assert 'fleetdeck_api_request_duration_seconds_count{method="GET",route="/api/v1/users/{name}"}' in text


def test_own_traces_name_the_route(proxied) -> None:  # type: ignore[no-untyped-def]
    api, exporter = proxied
    exporter.clear()
    with api.client(Role.ADMIN) as c:
        c.get("/tokens")
    deadline = time.monotonic() + 5  # the span ends just after the last byte is sent
    while not (spans := [s for s in exporter.get_finished_spans() if s.name == "GET /api/v1/tokens"]):
        assert time.monotonic() < deadline, [s.name for s in exporter.get_finished_spans()]
        time.sleep(0.02)
    assert spans and spans[0].attributes["http.response.status_code"] == 200
    assert spans[0].attributes["http.route"] == "/api/v1/tokens"
