"""A real HAProxy driven by the router, with stand-in instances run by the local runtime."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from control_plane import procs
from control_plane.domain.fleet import Endpoint, Health, Manifest, ServiceDef, VersionSpec
from control_plane.errors import ConfigError
from control_plane.routers.haproxy import HAProxyRouter
from control_plane.runtimes.local import LocalRuntime
from control_plane.settings import load_settings
from control_plane.store import migrate
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo

pytestmark = pytest.mark.component
STANDIN = Path(__file__).with_name("standin_app.py")
MANIFEST = Manifest([ServiceDef("frontend", "frontend", ("cart",), edge=True, index=0),
                     ServiceDef("cart", "cart", (), index=1)])


def free_ports(n: int) -> list[int]:
    return [procs.free_port() for _ in range(n)]


@pytest.fixture
def stack(tmp_path: Path):
    edge, stats, base = free_ports(3)
    while not all(procs.port_is_free(base + i) for i in range(2)):
        base = procs.free_port()
    settings = load_settings({}, state_dir=tmp_path, edge_port=edge, haproxy_stats_port=stats,
                             listener_port_base=base)
    router = HAProxyRouter(settings, MANIFEST, check_inter_ms=500)
    router.start()
    url = f"sqlite:///{tmp_path / 'control.db'}"
    migrate.upgrade(url)
    runtime = LocalRuntime(MANIFEST, FleetRepo(make_sessionmaker(make_engine(url))), tmp_path,
                           listener_port=settings.listener_port, router=router,
                           base_env={"PATH": os.environ.get("PATH", "/usr/bin")},
                           argv_for=lambda svc: [sys.executable, str(STANDIN), svc], stop_grace=3)
    try:
        yield settings, router, runtime
    finally:
        runtime.shutdown()
        router.stop()
    assert not procs.pid_alive(router.pid or -1)


def settle(runtime: LocalRuntime, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime.reconcile_once()
        insts = runtime.instances()
        if len(insts) == n and all(i.health is Health.READY for i in insts):
            runtime.reconcile_once()
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready: {runtime.instances()}")


def server_counts(stats_port: int) -> dict[str, int]:
    text = httpx.get(f"http://127.0.0.1:{stats_port}/metrics", timeout=5).text
    out: dict[str, int] = {}
    for m in re.finditer(r'haproxy_server_http_responses_total\{proxy="svc_cart",server="([^"]+)",code="2xx"\} (\d+)',
                         text):
        out[m.group(1)] = int(m.group(2))
    return out


def test_90_10_weights_send_about_10_percent_to_v2_by_haproxys_own_counters(stack) -> None:
    settings, router, runtime = stack
    runtime.apply([VersionSpec("cart", "v1", 2), VersionSpec("cart", "v2", 1)])
    router.set_weights("cart", {"v1": 90, "v2": 10})
    settle(runtime, 3)
    assert router.weights("cart") == {"v1": 90, "v2": 10}
    listener = f"http://127.0.0.1:{settings.listener_port(1)}/cart"
    with httpx.Client(timeout=5) as client:
        for _ in range(600):
            assert client.get(listener).status_code == 200
    counts = server_counts(settings.haproxy_stats_port)
    v2 = sum(c for s, c in counts.items() if s.startswith("v2__"))
    total = sum(counts.values())
    assert total == 600
    assert abs(100 * v2 / total - 10) <= 3, counts
    assert {"v1__1", "v1__2", "v2__1"} == set(counts)


def test_scale_down_removes_the_server_and_weights_change_without_reload(stack) -> None:
    settings, router, runtime = stack
    runtime.apply([VersionSpec("cart", "v1", 1), VersionSpec("cart", "v2", 1)])
    router.set_weights("cart", {"v1": 50, "v2": 50})
    settle(runtime, 2)
    pid = router.pid
    router.set_weights("cart", {"v1": 0, "v2": 100})
    with httpx.Client(timeout=5) as client:
        seen = {client.get(f"http://127.0.0.1:{settings.listener_port(1)}/x").json()["instance"] for _ in range(20)}
    assert seen == {"cart-v2-1"}
    runtime.apply([VersionSpec("cart", "v1", 1)])
    router.set_weights("cart", {"v1": 100})
    settle(runtime, 1)
    assert [s.name for s in router.servers("cart")] == ["v1__1"]
    assert router.pid == pid, "no reload, no restart"


def test_a_port_in_use_is_refused_before_haproxy_starts(stack, tmp_path: Path) -> None:
    settings, _, _ = stack
    other = HAProxyRouter(load_settings({}, state_dir=tmp_path / "other", edge_port=settings.edge_port,
                                        haproxy_stats_port=procs.free_port(), listener_port_base=procs.free_port()),
                          MANIFEST)
    with pytest.raises(ConfigError, match=f"port {settings.edge_port} \\(FLEETDECK_EDGE_PORT\\) is in use"):
        other.start()


def test_a_new_router_adopts_the_running_haproxy_and_changes_only_what_differs(stack) -> None:
    settings, router, runtime = stack
    runtime.apply([VersionSpec("cart", "v1", 2), VersionSpec("cart", "v2", 1)])
    router.set_weights("cart", {"v1": 90, "v2": 10})
    settle(runtime, 3)
    before = {s.name: (s.addr, s.port, s.weight) for s in router.servers("cart")}
    # What a restarted control plane does: a fresh router object on the same state dir.
    successor = HAProxyRouter(settings, MANIFEST, check_inter_ms=500)
    sent: list[str] = []
    command = successor.command
    successor.command = lambda cmd, timeout=5.0: (sent.append(cmd), command(cmd, timeout))[1]  # type: ignore[method-assign]
    assert successor.adopt()
    assert successor.pid == router.pid and successor.running()
    successor.set_weights("cart", {"v1": 90, "v2": 10})
    endpoints: dict[str, list[Endpoint]] = {"v1": [], "v2": []}
    for inst in sorted(runtime.instances(), key=lambda i: i.id):
        endpoints[inst.version].append(Endpoint(inst.id, "127.0.0.1", inst.port))
    successor.sync_endpoints("cart", endpoints)
    assert [c for c in sent if not c.startswith("show ")] == [], "nothing differed: nothing changed"
    assert {s.name: (s.addr, s.port, s.weight) for s in successor.servers("cart")} == before
    # One instance gone while the control plane was down: only its server goes, the weights follow.
    endpoints["v1"] = endpoints["v1"][:1]
    successor.sync_endpoints("cart", endpoints)
    changes = [c for c in sent if not c.startswith("show ")]
    assert any(c.startswith("del server svc_cart/v1__2") for c in changes), changes
    assert not any(c.startswith("add server") for c in changes), changes
    assert successor.weights("cart") == {"v1": 90, "v2": 10}
    # Another manifest (another listener) renders another config: that HAProxy is restarted, not adopted.
    bigger = Manifest([*MANIFEST.services.values(), ServiceDef("orders", "orders", (), index=2)])
    decision = HAProxyRouter(settings, bigger).check_adoption()
    assert not decision.adopt and "config differs" in decision.reason
