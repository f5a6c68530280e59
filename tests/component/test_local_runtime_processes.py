"""The local runtime with real processes (a stand-in app): restart on death, re-adoption, clean stop."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from control_plane import procs
from control_plane.domain.fleet import Health, Manifest, ServiceDef, VersionSpec
from control_plane.runtimes.local import BackOff, LocalRuntime
from control_plane.store import migrate
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo

pytestmark = pytest.mark.component
STANDIN = Path(__file__).with_name("standin_app.py")
MANIFEST = Manifest([ServiceDef("cart", "cart", (), index=0), ServiceDef("catalog", "catalog", (), index=1)])


def make_runtime(state: Path) -> LocalRuntime:
    url = f"sqlite:///{state / 'control.db'}"
    migrate.upgrade(url)
    return LocalRuntime(MANIFEST, FleetRepo(make_sessionmaker(make_engine(url))), state,
                        listener_port=lambda i: 1, base_env={"PATH": os.environ.get("PATH", "/usr/bin")},
                        argv_for=lambda svc: [sys.executable, str(STANDIN), svc],
                        backoff=BackOff(base=0.2, cap=1.0), start_timeout=15, stop_grace=3)


def wait_for(rt: LocalRuntime, predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.reconcile_once()
        if predicate({i.id: i for i in rt.instances()}):
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out; instances: {rt.instances()}")


def all_ready(n: int):  # type: ignore[no-untyped-def]
    return lambda insts: len(insts) == n and all(i.health is Health.READY for i in insts.values())


def test_killed_instance_is_restarted_and_counted(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path)
    try:
        rt.apply([VersionSpec("cart", "v1", 2)])
        wait_for(rt, all_ready(2))
        victim = next(i for i in rt.instances() if i.id == "cart-v1-1")
        os.kill(victim.pid, signal.SIGKILL)
        wait_for(rt, lambda insts: insts["cart-v1-1"].restarts == 1 and insts["cart-v1-1"].health is Health.READY)
        now = {i.id: i for i in rt.instances()}
        assert now["cart-v1-1"].pid != victim.pid and now["cart-v1-2"].restarts == 0
        assert (tmp_path / "logs" / "cart-v1-1.log").exists()
    finally:
        rt.shutdown()
    assert not procs.pid_alive(now["cart-v1-1"].pid)


def test_a_new_control_plane_re_adopts_live_instances(tmp_path: Path) -> None:
    first = make_runtime(tmp_path)
    first.apply([VersionSpec("cart", "v1", 1), VersionSpec("catalog", "v1", 1)])
    wait_for(first, all_ready(2))
    pids = {i.id: i.pid for i in first.instances()}
    # The first control plane "crashes": it never stops its instances. One of them dies meanwhile.
    os.kill(pids["catalog-v1-1"], signal.SIGKILL)
    time.sleep(0.2)
    first._slots["catalog-v1-1"].handle.alive()  # reap the zombie as init would once we are gone
    second = make_runtime(tmp_path)
    try:
        assert second.adopt() == ["cart-v1-1"]
        second.apply([VersionSpec("cart", "v1", 1), VersionSpec("catalog", "v1", 1)])
        wait_for(second, all_ready(2))
        now = {i.id: i for i in second.instances()}
        assert now["cart-v1-1"].pid == pids["cart-v1-1"] and now["cart-v1-1"].restarts == 0
        assert now["catalog-v1-1"].pid != pids["catalog-v1-1"] and now["catalog-v1-1"].restarts == 1
    finally:
        second.shutdown()
        for slot in first._slots.values():  # reap what the "crashed" first runtime had started
            if slot.handle is not None:
                slot.handle.alive()
    assert not any(procs.pid_alive(p) for p in [pids["cart-v1-1"], now["catalog-v1-1"].pid])
