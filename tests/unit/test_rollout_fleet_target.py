"""The controller through the real FleetTarget and FleetService, on fakes of the project's own
Runtime, Router and MetricsSource interfaces: the fleet's stored desired state and the router's
calls end up where a rollout says."""

from __future__ import annotations

import pytest
from fleet_fakes import FakeRouter, manifest, repo
from test_fleet_service import FakeRuntime
from test_rollout_controller import FAST, Clock, FakeHooks, FakePrometheus

from control_plane.fleet_service import FleetService
from control_plane.rollouts.controller import RolloutController
from control_plane.rollouts.ports import FleetTarget
from control_plane.settings import load_settings
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.rollout_repo import RolloutRepo


class FleetWeights:
    """What the fake Prometheus needs: the weights in force, read from the fleet."""

    def __init__(self, fleet: FleetService) -> None:
        self.fleet = fleet

    @property
    def weights(self) -> dict[str, int]:
        return {v["version"]: v["weight"] for v in self.fleet.get_service("cart")["versions"]}


@pytest.fixture
def rig(tmp_path):
    fleet_repo = repo(tmp_path)
    fleet = FleetService(load_settings({}, state_dir=tmp_path, listener_port_base=18100), manifest(), fleet_repo,
                         FakeRuntime(), FakeRouter())
    fleet.bootstrap()
    fleet.start()
    engine = make_engine(f"sqlite:///{tmp_path / 'control.db'}")
    clock = Clock()
    prom = FakePrometheus(FleetWeights(fleet), clock)  # type: ignore[arg-type]
    ctl = RolloutController(RolloutRepo(make_sessionmaker(engine)), FleetTarget(fleet, fleet.runtime, fleet.router),
                            prom, FakeHooks(), clock=clock)
    fleet.active_rollout = ctl.active_for
    yield fleet, ctl, clock, prom
    engine.dispose()


def drive(ctl, clock, prom, rid, until: str, seconds: float = 300) -> dict:
    end = clock.now + seconds
    while clock.now < end and ctl.get(rid)["phase"] != until:
        clock.now += 2.0
        prom.run(2.0)
        ctl.step()
    return ctl.get(rid)


def test_promotion_leaves_only_v2_serving_and_v1_drained_then_stopped(rig):
    fleet, ctl, clock, prom = rig
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    clock.now += 2.0
    prom.run(2.0)
    ctl.step()
    assert fleet.get_service("cart")["active_rollout"] == {"id": rid, "version": "v2", "phase": "progressing"}
    out = drive(ctl, clock, prom, rid, "promoted")
    assert out["phase"] == "promoted", out["reason"]
    versions = {v["version"]: (v["weight"], v["replicas"]) for v in fleet.get_service("cart")["versions"]}
    assert versions == {"v1": (0, 0), "v2": (100, 1)}
    assert fleet.router.weight_calls[-1] == ("cart", {"v1": 0, "v2": 100})
    assert ("cart", "cart-v1-1") in fleet.router.drained
    assert fleet.get_service("cart")["active_rollout"] is None


def test_rollback_puts_weight_zero_on_the_canary_and_stops_it(rig):
    fleet, ctl, clock, prom = rig
    prom.every = 20
    rid = ctl.create({"service": "cart", "version": "v2"}, actor="ci")["id"]
    out = drive(ctl, clock, prom, rid, "rolled_back", 60)
    assert out["phase"] == "rolled_back"
    versions = {v["version"]: (v["weight"], v["replicas"]) for v in fleet.get_service("cart")["versions"]}
    assert versions == {"v1": (100, 1), "v2": (0, 0)}
    assert fleet.router.weight_calls[-1] == ("cart", {"v1": 100, "v2": 0})
    assert ("cart", "cart-v2-1") in fleet.router.drained
