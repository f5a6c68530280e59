"""The fleet facade over a real (SQLite) store with fake runtime and router."""

from __future__ import annotations

from datetime import datetime

import pytest
from fleet_fakes import FakeRouter, manifest, repo

from control_plane.cli.local import format_instances, parse_weights
from control_plane.domain.fleet import Health, Instance
from control_plane.errors import ConflictError, NotFoundError, TemporaryError, ValidationError
from control_plane.fleet_service import FleetService, parse_duration
from control_plane.settings import load_settings


class FakeRuntime:
    def __init__(self) -> None:
        self.desired: list = []
        self.restarted: list[str] = []

    def apply(self, desired) -> None:  # type: ignore[no-untyped-def]
        self.desired = list(desired)

    def reconcile_once(self) -> None:
        pass

    def instances(self) -> list[Instance]:
        return [Instance(f"{s.service}-{s.version}-{n}", s.service, s.version, 30000 + n, 4000 + n, Health.READY,
                         0, 1_700_000_000.0) for s in self.desired for n in range(1, s.replicas + 1)]

    def restart(self, instance_id: str) -> None:
        if instance_id not in {i.id for i in self.instances()}:
            raise NotFoundError(f"unknown instance {instance_id!r}")
        self.restarted.append(instance_id)

    def shutdown(self) -> None:
        pass


class FakeSeries:
    def __init__(self, labels, points) -> None:  # type: ignore[no-untyped-def]
        self.labels, self.points = labels, points


class FakeMetrics:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def instant(self, promql, at=None):  # type: ignore[no-untyped-def]
        return []

    def healthy(self) -> bool:
        return True

    def range_query(self, promql: str, start: datetime, end: datetime, step_s: float):  # type: ignore[no-untyped-def]
        self.queries.append(promql)
        by = "version" if "by (version" in promql else "service"
        value = 0.05 if "code=~" in promql else 3.0
        return [FakeSeries({by: "v1" if by == "version" else "cart"}, [(1.0, value), (2.0, value)])]


@pytest.fixture
def fleet(tmp_path):
    svc = FleetService(load_settings({}, state_dir=tmp_path, listener_port_base=18100), manifest(), repo(tmp_path),
                       FakeRuntime(), FakeRouter(), FakeMetrics(),
                       static_targets=[{"targets": ["127.0.0.1:18404"], "labels": {"job": "haproxy"}}])
    assert svc.bootstrap() is True
    assert svc.bootstrap() is False
    svc.start()
    return svc


def test_bootstrap_deploys_the_initial_version_at_full_weight(fleet) -> None:
    services = fleet.list_services()
    assert [s["name"] for s in services] == ["frontend", "cart", "catalog"]
    cart = services[1]
    assert cart["listener_port"] == 18101
    assert [(v["version"], v["replicas"], v["weight"]) for v in cart["versions"]] == [("v1", 1, 100)]
    assert cart["versions"][0]["instances"][0]["health"] == "ready"
    assert ("cart", {"v1": 100}) in fleet.router.weight_calls


def test_new_version_gets_no_traffic_until_weights_say_so(fleet) -> None:
    out = fleet.deploy("cart", "v2", 2, {"error_rate": 0.05})
    assert [(v["version"], v["weight"], v["faults"]["error_rate"]) for v in out["versions"]] == \
        [("v1", 100, 0.0), ("v2", 0, 0.05)]
    assert {(s.version, s.replicas) for s in fleet.runtime.desired if s.service == "cart"} == {("v1", 1), ("v2", 2)}
    fleet.deploy("cart", "v2", 1)  # faults omitted: kept
    assert fleet.get_service("cart")["versions"][1]["faults"]["error_rate"] == 0.05


def test_weights_use_optimistic_locking(fleet) -> None:
    fleet.deploy("cart", "v2", 1)
    rv = fleet.resource_version("cart")
    out = fleet.set_weights("cart", {"v1": 90, "v2": 10}, expected_version=rv)
    assert out["weights"] == {"v1": 90, "v2": 10} and out["resource_version"] == rv + 1
    assert fleet.router.weight_calls[-1] == ("cart", {"v1": 90, "v2": 10})
    with pytest.raises(ConflictError, match="changed since version"):
        fleet.set_weights("cart", {"v1": 50, "v2": 50}, expected_version=rv)
    assert [v["weight"] for v in fleet.get_service("cart")["versions"]] == [90, 10]


def test_bad_input_is_rejected_whole(fleet) -> None:
    with pytest.raises(NotFoundError, match="unknown service"):
        fleet.deploy("shop", "v1", 1)
    with pytest.raises(ValidationError):
        fleet.deploy("cart", "v2", 1, {"error_rate": 2})
    with pytest.raises(ValidationError, match="replicas must be an integer"):
        fleet.deploy("cart", "v2", "3")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="sum to 100"):
        fleet.set_weights("cart", {"v1": 50})
    with pytest.raises(NotFoundError, match="no version 'v7'"):
        fleet.set_weights("cart", {"v7": 100})
    assert [v["version"] for v in fleet.get_service("cart")["versions"]] == ["v1"]


def test_a_version_with_traffic_cannot_be_removed(fleet) -> None:
    fleet.deploy("cart", "v2", 1)
    with pytest.raises(ConflictError, match="shift its weight"):
        fleet.remove_version("cart", "v1")
    out = fleet.remove_version("cart", "v2")
    assert [v["version"] for v in out["versions"]] == ["v1"]
    with pytest.raises(NotFoundError):
        fleet.remove_version("cart", "v2")


def test_restart_and_service_discovery(fleet) -> None:
    assert fleet.restart_instance("cart-v1-1")["id"] == "cart-v1-1"
    with pytest.raises(NotFoundError):
        fleet.restart_instance("cart-v9-1")
    groups = fleet.sd_targets()
    cart = next(g for g in groups if g["labels"].get("instance") == "cart-v1-1")
    assert cart == {"targets": ["127.0.0.1:30001"],
                    "labels": {"job": "fleet", "service": "cart", "version": "v1", "instance": "cart-v1-1"}}
    assert {"targets": ["127.0.0.1:18404"], "labels": {"job": "haproxy"}} in groups


def test_red_metrics_per_version_and_overview(fleet) -> None:
    out = fleet.service_metrics("cart", "5m", "15s")
    assert set(out["versions"]["v1"]) == {"rps", "error_ratio", "p50", "p95", "p99"}
    assert out["versions"]["v1"]["error_ratio"][-1] == [2.0, 0.05]
    assert any('histogram_quantile(0.99, sum by (version, le)' in q for q in fleet.metrics.queries)
    assert all('service="cart"' in q for q in fleet.metrics.queries)
    over = fleet.overview_metrics()
    cart = next(s for s in over["services"] if s["service"] == "cart")
    assert cart["rps"] == 3.0 and len(cart["trend"]["rps"]) == 2
    with pytest.raises(ValidationError, match="range must look like"):
        fleet.service_metrics("cart", "forever")
    with pytest.raises(ValidationError, match="more than"):
        fleet.service_metrics("cart", "30d", "1s")
    fleet.metrics = None
    with pytest.raises(TemporaryError):
        fleet.overview_metrics()


def test_durations() -> None:
    assert parse_duration("15m", "range") == 900 and parse_duration("2h", "range") == 7200
    with pytest.raises(ValidationError):
        parse_duration("0s", "step")


def test_cli_parses_weights_and_formats_instances() -> None:
    assert parse_weights(["v1=90", "v2=10"]) == {"v1": 90, "v2": 10}
    with pytest.raises(ValidationError, match="look like v1=90"):
        parse_weights(["v1:90"])
    with pytest.raises(ValidationError, match="must be an integer"):
        parse_weights(["v1=ninety"])
    table = format_instances([{"id": "cart-v1-1", "service": "cart", "version": "v1", "port": 1, "pid": 2,
                               "health": "ready", "restarts": 3, "started_at": "2026-01-01T00:00:00+00:00"}])
    assert table.splitlines()[0].split() == ["INSTANCE", "SERVICE", "VERSION", "PORT", "PID", "HEALTH",
                                             "RESTARTS", "STARTED"]
    assert table.splitlines()[1].split()[:7] == ["cart-v1-1", "cart", "v1", "1", "2", "ready", "3"]
