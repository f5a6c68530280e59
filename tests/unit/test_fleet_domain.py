"""Weight maths, validation of desired state, the manifest loader and the port checks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fleet_fakes import manifest

from control_plane.domain.fleet import (
    Faults,
    VersionSpec,
    server_weights,
    validate_version_spec,
    validate_weights,
)
from control_plane.errors import ConfigError, NotFoundError, ValidationError
from control_plane.manifest import load_manifest
from control_plane.procs import check_ports_free
from control_plane.settings import Settings


@pytest.mark.parametrize("weights, counts, expected", [
    ({"v1": 90, "v2": 10}, {"v1": 1, "v2": 1}, {"v1": 256, "v2": 28}),
    ({"v1": 90, "v2": 10}, {"v1": 3, "v2": 1}, {"v1": 256, "v2": 85}),
    ({"v1": 50, "v2": 50}, {"v1": 2, "v2": 1}, {"v1": 128, "v2": 256}),
    ({"v1": 100, "v2": 0}, {"v1": 1, "v2": 1}, {"v1": 256, "v2": 0}),
    ({"v1": 10, "v2": 90}, {"v1": 1, "v2": 0}, {"v1": 256, "v2": 0}),
    ({"v1": 99, "v2": 1}, {"v1": 1, "v2": 1}, {"v1": 256, "v2": 3}),
])
def test_server_weights_give_each_version_its_share(weights, counts, expected) -> None:
    got = server_weights(weights, counts)
    assert got == expected
    total = sum(got[v] * counts[v] for v in got)
    for v, w in weights.items():
        if counts[v] and w and all(counts[x] for x in weights if weights[x]):
            assert abs(100 * got[v] * counts[v] / total - w) < 1.5


def test_weights_must_name_deployed_versions_and_sum_to_100() -> None:
    m = manifest()
    assert validate_weights(m, "cart", {"v1": 90, "v2": 10}, ["v1", "v2"]) == {"v1": 90, "v2": 10}
    with pytest.raises(NotFoundError, match="unknown service 'nope'"):
        validate_weights(m, "nope", {"v1": 100}, ["v1"])
    with pytest.raises(NotFoundError, match="cart has no version 'v3'"):
        validate_weights(m, "cart", {"v1": 90, "v3": 10}, ["v1", "v2"])
    with pytest.raises(ValidationError, match="must sum to 100") as err:
        validate_weights(m, "cart", {"v1": 90, "v2": 20}, ["v1", "v2"])
    assert err.value.details["field"] == "weights"
    for bad in (-10, 101, 5.5, True, "10"):
        with pytest.raises(ValidationError, match="integer 0..100"):
            validate_weights(m, "cart", {"v1": bad}, ["v1"])
    with pytest.raises(ValidationError, match="at least one"):
        validate_weights(m, "cart", {}, ["v1"])


def test_version_spec_validation_names_the_field() -> None:
    m = manifest()
    with pytest.raises(NotFoundError, match="unknown service 'shop'"):
        validate_version_spec(m, VersionSpec("shop", "v1", 1))
    with pytest.raises(ValidationError, match="must look like v1") as err:
        validate_version_spec(m, VersionSpec("cart", "latest", 1))
    assert err.value.field == "version"
    with pytest.raises(ValidationError, match="replicas must be between") as err:
        validate_version_spec(m, VersionSpec("cart", "v1", 17))
    assert err.value.field == "replicas"


def test_faults_are_checked_whole() -> None:
    assert Faults.from_dict({"error_rate": 0.05}).error_rate == 0.05
    with pytest.raises(ValidationError, match="unknown fault"):
        Faults.from_dict({"explode": 1})
    with pytest.raises(ValidationError, match="between 0 and 1"):
        Faults.from_dict({"error_rate": 1.5})


def test_the_shipped_manifest_loads() -> None:
    m, initial = load_manifest(Settings().fleet_manifest)
    assert m.order[0] == "frontend" and m.services["frontend"].edge
    assert {"catalog", "cart", "checkout", "payment", "shipping", "recommendation", "orders"} <= set(m.order)
    assert initial.version == "v1" and initial.replicas >= 1


def test_bad_manifests_fail_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("services:\n  - name: a\n    upstreams: [b]\n")
    with pytest.raises(ConfigError, match="calls unknown service"):
        load_manifest(bad)
    bad.write_text("nothing: here\n")
    with pytest.raises(ConfigError, match="non-empty 'services'"):
        load_manifest(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_manifest(tmp_path / "missing.yaml")


def test_a_port_in_use_is_a_config_error_naming_the_setting() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} \\(FLEETDECK_EDGE_PORT\\) is in use") as err:
            check_ports_free([("FLEETDECK_EDGE_PORT", port)])
        assert err.value.details["field"] == "FLEETDECK_EDGE_PORT"
