"""The real fleet exporting into the real collector: one checkout is one trace across the services,
the service graph holds the fleet's call edges, and the trace's logs come from every service on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.testing import CollectorProcess

pytestmark = [pytest.mark.component, pytest.mark.slow]

CHECKOUT_PATH = {"frontend", "checkout", "cart", "catalog", "payment", "shipping", "orders"}


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_a_checkout_is_one_trace_with_its_logs_and_graph(tmp_path: Path) -> None:
    from fleet.testing import UPSTREAMS, LocalFleet

    collector = CollectorProcess("--db-path", str(tmp_path / "telemetry.db"), "--retention-hours", "0")
    fleet: LocalFleet | None = None
    try:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200",
               "OTEL_BLRP_SCHEDULE_DELAY": "200"}
        # Eight Python services starting at once on a small shared machine can take a while.
        fleet = LocalFleet(tmp_path / "fleet", env=env).start(timeout=150)
        with httpx.Client(base_url=fleet.url("frontend"), timeout=30) as shop, \
                httpx.Client(base_url=collector.url, timeout=30) as api:
            started = time.time()
            session = {"X-Session-Id": "collectors-e2e"}
            product = shop.get("/api/products").json()["items"][0]["id"]
            assert shop.post("/api/cart/items", json={"product_id": product, "quantity": 1},
                             headers=session).status_code == 201
            order = shop.post("/api/checkout", headers=session, json={
                "email": "a@example.com",
                "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"},
                "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": time.gmtime().tm_year + 3,
                         "cvc": "123"}})
            assert order.status_code == 201, order.text

            def checkout_trace() -> dict[str, Any] | None:
                found = api.get("/api/traces", params={"service": "payment", "start": started}).json()["items"]
                if not found:
                    return None
                trace = api.get(f"/api/traces/{found[0]['trace_id']}").json()
                return trace if CHECKOUT_PATH <= set(trace["services"]) else None

            trace = eventually(checkout_trace)
            assert trace, "no complete checkout trace arrived"
            assert trace["root_service"] == "frontend" and len(trace["roots"]) == 1
            assert trace["critical_path"][0] == trace["roots"][0]

            graph = api.get("/api/service-graph", params={"start": started - 60}).json()
            edges = {(e["source"], e["target"]) for e in graph["edges"]}
            allowed = {(caller, callee) for caller, callees in UPSTREAMS.items() for callee in callees}
            assert edges <= allowed, edges - allowed
            assert {("frontend", "checkout"), ("checkout", "payment"), ("checkout", "orders"),
                    ("checkout", "cart"), ("checkout", "shipping")} <= edges

            def log_services() -> set[str]:
                items = api.get("/api/logs", params={"trace_id": trace["trace_id"], "limit": 500}).json()["items"]
                return {entry["service"] for entry in items}

            assert eventually(lambda: log_services() >= CHECKOUT_PATH), log_services()
    finally:
        if fleet is not None:
            fleet.stop()
        assert collector.stop() == 0
