"""The local runtime's reconcile logic with fake processes, probes and clock: no process, no sleep."""

from __future__ import annotations

import os

import pytest
from fleet_fakes import Clock, FakeRouter, Probe, Spawner, manifest, repo

from control_plane.domain.fleet import Faults, Health, VersionSpec
from control_plane.errors import NotFoundError
from control_plane.runtimes.local import BackOff, LocalRuntime
from control_plane.store.fleet_repo import InstanceRecord


@pytest.fixture
def rt(tmp_path):
    clock, spawner = Clock(), Spawner()
    ports = iter(range(31000, 32000))
    runtime = LocalRuntime(manifest(), repo(tmp_path), tmp_path, listener_port=lambda i: 8100 + i,
                           router=FakeRouter(), otlp_endpoint="http://127.0.0.1:4318", base_env={"PATH": "/bin"},
                           python="py", clock=clock, wall=lambda: 1_700_000_000.0, spawn=spawner,
                           probe=Probe(spawner), port_picker=lambda: next(ports), port_free=lambda p: True,
                           backoff=BackOff(base=0.5, factor=2.0, cap=4.0, reset_after=30.0), start_timeout=20.0,
                           stop_grace=0.0)
    runtime.t_clock, runtime.t_spawner = clock, spawner  # type: ignore[attr-defined]
    return runtime


def health(rt: LocalRuntime) -> dict[str, tuple[Health, int]]:
    return {i.id: (i.health, i.restarts) for i in rt.instances()}


def test_backoff_doubles_up_to_the_cap() -> None:
    b = BackOff(base=0.5, factor=2.0, cap=4.0)
    assert [b.delay(n) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_starts_every_replica_with_the_contract_environment(rt) -> None:
    rt.apply([VersionSpec("frontend", "v1", 1), VersionSpec("cart", "v2", 2, Faults(error_rate=0.05))])
    rt.reconcile_once()
    launches = {p.launch.instance_id: p.launch for p in rt.t_spawner.started}
    assert sorted(launches) == ["cart-v2-1", "cart-v2-2", "frontend-v1-1"]
    env = launches["frontend-v1-1"].env
    assert launches["frontend-v1-1"].argv == ["py", "-m", "fleet", "frontend"]
    assert env["FLEET_VERSION"] == "v1" and env["FLEET_INSTANCE_ID"] == "frontend-v1-1"
    assert env["FLEET_HOST"] == "127.0.0.1" and env["FLEET_UPSTREAM_CART_URL"] == "http://127.0.0.1:8101"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318" and env["PATH"] == "/bin"
    assert '"error_rate":0.05' in launches["cart-v2-1"].env["FLEET_FAULTS"]
    # one datastore per service, shared by its versions
    assert launches["cart-v2-1"].env["FLEET_DATA_DIR"].endswith("data/cart")
    assert launches["cart-v2-1"].log_path.name == "cart-v2-1.log"
    assert all(h is Health.STARTING for h, _ in health(rt).values())
    rt.reconcile_once()
    assert all(h is Health.READY for h, _ in health(rt).values())
    cart = rt.router.synced["cart"]["v2"]
    assert [e.instance_id for e in cart] == ["cart-v2-1", "cart-v2-2"]


def test_dead_instance_restarts_after_exponential_backoff(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.reconcile_once()
    for expected_delay, restarts in [(0.5, 1), (1.0, 2), (2.0, 3), (4.0, 4), (4.0, 5)]:
        rt.t_spawner.by_id("cart-v1-1")[-1].running = False  # the process dies
        rt.reconcile_once()
        assert health(rt)["cart-v1-1"] == (Health.CRASHED, restarts - 1)
        rt.t_clock.advance(expected_delay - 0.01)
        rt.reconcile_once()
        assert health(rt)["cart-v1-1"][0] is Health.CRASHED, "restarted before its back-off"
        rt.t_clock.advance(0.01)
        rt.reconcile_once()
        assert health(rt)["cart-v1-1"] == (Health.STARTING, restarts)
        rt.reconcile_once()
    assert len(rt.t_spawner.by_id("cart-v1-1")) == 6
    assert rt.repo.instances()[0].restarts == 5


def test_failures_are_forgotten_after_a_stable_period(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.reconcile_once()
    for _ in range(3):
        rt.t_spawner.by_id("cart-v1-1")[-1].running = False
        rt.reconcile_once()
        rt.t_clock.advance(10)
        rt.reconcile_once()
        rt.reconcile_once()
    rt.t_clock.advance(31)
    rt.reconcile_once()  # ready for longer than reset_after: failure count back to 0
    rt.t_spawner.by_id("cart-v1-1")[-1].running = False
    rt.reconcile_once()
    rt.t_clock.advance(0.5)
    rt.reconcile_once()
    assert health(rt)["cart-v1-1"][0] is Health.STARTING


def test_instance_not_ready_in_time_is_killed_and_retried(rt) -> None:
    rt._probe.not_ready.add("cart-v1-1")
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.t_clock.advance(20)
    rt.reconcile_once()
    first = rt.t_spawner.by_id("cart-v1-1")[0]
    assert first.signals == ["KILL"] and health(rt)["cart-v1-1"][0] is Health.CRASHED


def test_failing_health_checks_restart_a_live_instance(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.reconcile_once()
    rt._probe.not_ready.add("cart-v1-1")
    for _ in range(2):
        rt.reconcile_once()
    assert health(rt)["cart-v1-1"][0] is Health.UNHEALTHY
    rt.reconcile_once()
    assert health(rt)["cart-v1-1"][0] is Health.CRASHED
    assert rt.t_spawner.by_id("cart-v1-1")[0].signals == ["TERM"]


def test_scale_down_drains_before_stopping(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 2)])
    rt.reconcile_once()
    rt.reconcile_once()
    rt.router.events.clear()
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    assert rt.router.events[0] == "drain cart-v1-2"
    assert rt.t_spawner.by_id("cart-v1-2")[0].signals == ["TERM"]
    assert [i.id for i in rt.instances()] == ["cart-v1-1"]
    assert [r.id for r in rt.repo.instances()] == ["cart-v1-1"]
    assert [e.instance_id for e in rt.router.synced["cart"]["v1"]] == ["cart-v1-1"]


def test_restart_counts_and_unknown_instance_is_not_found(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.reconcile_once()
    with pytest.raises(NotFoundError, match="unknown instance 'cart-v9-1'"):
        rt.restart("cart-v9-1")
    rt.restart("cart-v1-1")
    rt.reconcile_once()
    assert health(rt)["cart-v1-1"] == (Health.STARTING, 1)
    assert rt.t_spawner.by_id("cart-v1-1")[0].signals == ["TERM"]


def test_changed_faults_are_pushed_to_running_instances(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 1)])
    rt.reconcile_once()
    rt.reconcile_once()
    assert rt._probe.faults == []
    rt.apply([VersionSpec("cart", "v1", 1, Faults(latency_ms=50))])
    rt.reconcile_once()
    assert rt._probe.faults[-1][1]["latency_ms"] == 50.0
    assert len(rt.t_spawner.started) == 1, "faults change without a restart"


def test_adopts_live_matching_processes_and_restarts_the_rest(rt) -> None:
    me = os.getpid()  # a live pid that is certainly not a fleet instance
    rt.repo.save_instance(InstanceRecord("cart-v1-1", "cart", "v1", 1, 40001, me, 1.0, 2))
    rt.repo.save_instance(InstanceRecord("cart-v1-2", "cart", "v1", 2, 40002, me, 1.0, 0))
    rt._probe.identity = {40001: "cart-v1-1", 40002: "somebody-else"}
    assert rt.adopt() == ["cart-v1-1"]
    rt.apply([VersionSpec("cart", "v1", 2)])
    rt.reconcile_once()
    got = health(rt)
    assert got["cart-v1-1"] == (Health.READY, 2)
    assert got["cart-v1-2"] == (Health.STARTING, 1)
    assert [p.launch.instance_id for p in rt.t_spawner.started] == ["cart-v1-2"]


def test_shutdown_stops_everything_and_forgets_it(rt) -> None:
    rt.apply([VersionSpec("cart", "v1", 2)])
    rt.reconcile_once()
    rt.reconcile_once()
    rt.shutdown()
    assert all(not p.running for p in rt.t_spawner.started)
    assert rt.instances() == [] and rt.repo.instances() == []
