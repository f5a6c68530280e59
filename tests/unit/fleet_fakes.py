"""Fakes at the level of our own interfaces for the fleet unit tests (runtime, router, probes, clock)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from control_plane.domain.fleet import Endpoint, Manifest, ServiceDef
from control_plane.runtimes.local import Launch
from control_plane.store import migrate
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo


def manifest() -> Manifest:
    return Manifest([ServiceDef("frontend", "frontend", ("cart",), edge=True, index=0),
                     ServiceDef("cart", "cart", (), index=1),
                     ServiceDef("catalog", "catalog", (), index=2)])


_TEMPLATE: dict[str, bytes] = {}


def repo(tmp_path: Path) -> FleetRepo:
    """A FleetRepo on a fresh SQLite store built by the migrations (run once, then copied)."""
    if "db" not in _TEMPLATE:
        first = tmp_path / "template.db"
        migrate.upgrade(f"sqlite:///{first}")
        _TEMPLATE["db"] = first.read_bytes()
        first.unlink()
    target = tmp_path / "control.db"
    target.write_bytes(_TEMPLATE["db"])
    engine = make_engine(f"sqlite:///{target}")
    return FleetRepo(make_sessionmaker(engine))


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeProc:
    next_pid = 50_000

    def __init__(self, launch: Launch) -> None:
        FakeProc.next_pid += 1
        self.pid = FakeProc.next_pid
        self.launch = launch
        self.running = True
        self.signals: list[str] = []

    def alive(self) -> bool:
        return self.running

    def signal_stop(self, force: bool = False) -> None:
        self.signals.append("KILL" if force else "TERM")
        self.running = False


class Spawner:
    def __init__(self) -> None:
        self.started: list[FakeProc] = []

    def __call__(self, launch: Launch) -> FakeProc:
        proc = FakeProc(launch)
        self.started.append(proc)
        return proc

    def by_id(self, instance_id: str) -> list[FakeProc]:
        return [p for p in self.started if p.launch.instance_id == instance_id]


class Probe:
    """Answers /readyz for the ports marked ready; records fault pushes."""

    def __init__(self, spawner: Spawner) -> None:
        self.spawner = spawner
        self.auto_ready = True
        self.not_ready: set[str] = set()
        self.faults: list[tuple[int, dict]] = []
        self.identity: dict[int, str] = {}

    def ready(self, port: int) -> dict | None:
        if port in self.identity:
            return {"instance": self.identity[port]}
        for proc in reversed(self.spawner.started):
            if proc.running and int(proc.launch.env["FLEET_PORT"]) == port:
                iid = proc.launch.instance_id
                if self.auto_ready and iid not in self.not_ready:
                    return {"instance": iid}
                return None
        return None

    def put_faults(self, port: int, faults: Mapping[str, object]) -> bool:
        self.faults.append((port, dict(faults)))
        return True

    def close(self) -> None:
        pass


@dataclass
class FakeRouter:
    """Records what the runtime and the fleet service ask of the router."""

    synced: dict[str, dict[str, list[Endpoint]]] = field(default_factory=dict)
    weight_calls: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    drained: list[tuple[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def sync_endpoints(self, service: str, endpoints: Mapping[str, Sequence[Endpoint]]) -> None:
        self.synced[service] = {v: list(eps) for v, eps in endpoints.items()}
        self.events.append(f"sync {service}")

    def set_weights(self, service: str, weights: Mapping[str, int]) -> None:
        self.weight_calls.append((service, dict(weights)))

    def weights(self, service: str) -> dict[str, int]:
        return dict(self.weight_calls[-1][1]) if self.weight_calls else {}

    def drain(self, service: str, instance_id: str) -> None:
        self.drained.append((service, instance_id))
        self.events.append(f"drain {instance_id}")
