"""The whole local stack, as `fleetdeck up` starts it, on free ports with a temporary state dir."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane import procs
from control_plane.manifest import load_manifest
from control_plane.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
N_SERVICES = len(load_manifest(Settings().fleet_manifest)[0].order)


def listener_base(n: int) -> int:
    while True:
        base = procs.free_port()
        if base + n < 65000 and all(procs.port_is_free(base + i) for i in range(n)):
            return base


class Stack:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
        ports = {name: procs.free_port() for name in ("API", "EDGE", "HAPROXY_STATS", "PROMETHEUS", "COLLECTOR")}
        self.env.update({f"FLEETDECK_{k}_PORT": str(v) for k, v in ports.items()})
        self.env.update(FLEETDECK_DASHBOARD="0", FLEETDECK_STATE_DIR=str(state), FLEETDECK_LISTENER_PORT_BASE=str(listener_base(N_SERVICES)),
                        FLEETDECK_SCRAPE_INTERVAL_S="1", FLEETDECK_LOADGEN_RATE="2",
                        FLEETDECK_ADMIN_PASSWORD="e2e-admin-password", PYTHONPATH=str(ROOT))
        self.ports = ports

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "control_plane.cli.main", *args], check=False, env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def instances(self) -> list[dict[str, Any]]:
        res = self.cli("status", "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def wait_ready(self, n: int, timeout: float = 90) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            insts = self.instances()
            if len(insts) == n and all(i["health"] == "ready" for i in insts):
                return insts
            time.sleep(0.5)
        raise AssertionError(f"not ready: {self.instances()}")

    def pids(self) -> set[int]:
        res = self.cli("status", "--json")
        out = {int(i["pid"]) for i in json.loads(res.stdout) if i["pid"]} if res.returncode == 0 else set()
        for f in ("daemon.pid", "haproxy/haproxy.pid", "prometheus/prometheus.pid", "run/collectors.pid",
                  "run/loadgen.pid"):
            try:
                out.add(int((self.state / f).read_text()))
            except (OSError, ValueError):
                pass
        return out


def cart_counts(stack: Stack) -> dict[str, int]:
    """Responses per cart server, all codes, from HAProxy's Prometheus exporter."""
    text = httpx.get(stack.url("HAPROXY_STATS", "/metrics"), timeout=10).text
    out: dict[str, int] = {}
    for m in re.finditer(r'haproxy_server_http_responses_total\{proxy="svc_cart",server="([^"]+)",code="[^"]+"\} (\d+)',
                         text):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("fleetdeck"))
    up = s.cli("up", "--timeout", "150", timeout=200)
    if up.returncode != 0 and "in use" in up.stdout + up.stderr:
        # A free port picked above was taken by another process before the daemon bound it: new ports.
        s = Stack(tmp_path_factory.mktemp("fleetdeck"))
        up = s.cli("up", "--timeout", "150", timeout=200)
    started: set[int] = set()
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "storefront" in up.stdout and "Prometheus" in up.stdout
        started = s.pids()
        yield s
    finally:
        s.cli("down", timeout=120)
        for pid in started | s.pids():  # belt and braces: a failed test must not leave processes behind
            if procs.pid_alive(pid):
                procs.signal_group(pid, signal.SIGKILL)


def test_journey_targets_fault_restart_and_down(stack: Stack) -> None:
    insts = stack.wait_ready(N_SERVICES)
    assert {i["service"] for i in insts} >= {"frontend", "catalog", "cart", "checkout", "payment", "shipping",
                                             "recommendation", "orders"}

    # A shopper journey through the edge ends in an order stored by `orders`.
    with httpx.Client(base_url=stack.url("EDGE"), timeout=15, headers={"X-Session-Id": "e2e-shopper"}) as edge:
        assert edge.get("/").status_code == 200
        product = edge.get("/api/products").json()["items"][0]["id"]
        assert edge.post("/api/cart/items", json={"product_id": product, "quantity": 2}).status_code == 201
        order = edge.post("/api/checkout", json={
            "email": "e2e@example.com", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035,
                                                 "cvc": "123"},
            "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"}})
        assert order.status_code == 201, order.text
        order_id = order.json()["order_id"]
    orders_port = int(stack.env["FLEETDECK_LISTENER_PORT_BASE"]) + \
        load_manifest(Settings().fleet_manifest)[0].services["orders"].index
    assert httpx.get(f"http://127.0.0.1:{orders_port}/orders/{order_id}", timeout=10).status_code == 200

    # Prometheus scrapes every instance, HAProxy and the control plane, all up.
    deadline = time.monotonic() + 30
    while True:
        targets = httpx.get(stack.url("PROMETHEUS", "/api/v1/targets"), timeout=10).json()["data"]["activeTargets"]
        fleet = {t["labels"].get("instance") for t in targets if t["labels"].get("job") == "fleet"}
        if fleet >= {i["id"] for i in insts} and all(t["health"] == "up" for t in targets):
            break
        assert time.monotonic() < deadline, [(t["labels"], t["health"], t["lastError"]) for t in targets]
        time.sleep(1)
    assert {"haproxy", "control-plane"} <= {t["labels"]["job"] for t in targets}

    # A fault on cart v2 shows in v2's metrics only.
    assert stack.cli("scale", "cart", "v2", "1").returncode == 0
    stack.wait_ready(N_SERVICES + 1)
    res = stack.cli("weights", "cart", "v1=50", "v2=50")
    assert res.returncode == 0, res.stderr
    res = stack.cli("fault", "cart", "v2", "--error-rate", "0.5")
    assert res.returncode == 0, res.stderr
    cart_port = int(stack.env["FLEETDECK_LISTENER_PORT_BASE"]) + \
        load_manifest(Settings().fleet_manifest)[0].services["cart"].index
    token = (stack.state / "cli-token").read_text().strip()
    api = httpx.Client(base_url=stack.url("API"), headers={"Authorization": f"Bearer {token}"}, timeout=15)
    deadline = time.monotonic() + 45
    with httpx.Client(base_url=f"http://127.0.0.1:{cart_port}", timeout=10) as cart:
        while True:
            for _ in range(40):
                cart.get("/carts/e2e-load")
            m = api.get("/api/v1/services/cart/metrics", params={"range": "1m", "step": "5s"}).json()["versions"]
            v1, v2 = m["v1"]["error_ratio"], m["v2"]["error_ratio"]
            if v2 and v2[-1][1] > 0.2:
                break
            assert time.monotonic() < deadline, m
            time.sleep(1)
    assert v1 and max(v for _, v in v1) == 0.0, v1

    # 90/10 through the router, with the load generator running: ~10% of cart's requests reach v2,
    # counted by HAProxy itself.
    assert stack.cli("fault", "cart", "v2", "--clear").returncode == 0
    assert stack.cli("weights", "cart", "v1=90", "v2=10").returncode == 0
    before = cart_counts(stack)
    with httpx.Client(base_url=f"http://127.0.0.1:{cart_port}", timeout=10) as cart:
        for _ in range(400):
            cart.get("/carts/e2e-load")
    after = cart_counts(stack)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    share = 100 * delta.get("v2__1", 0) / max(1, sum(delta.values()))
    assert sum(delta.values()) >= 400 and abs(share - 10) <= 3, delta

    # Killing an instance's process: the runtime restarts it and status shows the restart.
    victim = next(i for i in stack.instances() if i["id"] == "catalog-v1-1")
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        now = next(i for i in stack.instances() if i["id"] == "catalog-v1-1")
        if now["restarts"] == 1 and now["health"] == "ready":
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.5)
    assert "catalog-v1-1" in stack.cli("status").stdout

    # The control plane traces its own API calls into the collectors, next to the fleet's traces.
    deadline = time.monotonic() + 30
    while True:
        found = api.get("/api/v1/traces", params={"service": "fleetdeck-control-plane", "limit": 5})
        assert found.status_code == 200, found.text
        if found.json()["items"]:
            break
        assert time.monotonic() < deadline, "no control-plane spans reached the collectors"
        time.sleep(1)
    api.close()

    # `fleetdeck down` leaves nothing running.
    pids = stack.pids()
    assert len(pids) >= N_SERVICES + 4
    down = stack.cli("down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [p for p in pids if procs.pid_alive(p)] == []
