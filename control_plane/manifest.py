"""Load the fleet manifest (deploy/fleet.yaml) into domain types; a bad manifest fails at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from control_plane.domain.fleet import NAME_RE, VERSION_RE, Manifest, ServiceDef
from control_plane.errors import ConfigError


@dataclass(frozen=True)
class InitialState:
    """The versions `fleetdeck up` deploys on a first start."""

    version: str = "v1"
    replicas: int = 1


def load_manifest(path: Path, default_replicas: int = 1) -> tuple[Manifest, InitialState]:
    """Parse and check the manifest at ``path``."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read fleet manifest {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), list) or not raw["services"]:
        raise ConfigError(f"fleet manifest {path} must have a non-empty 'services' list")
    services: list[ServiceDef] = []
    for index, item in enumerate(raw["services"]):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(f"fleet manifest {path}: service #{index + 1} has no valid name")
        upstreams = tuple(item.get("upstreams") or ())
        services.append(ServiceDef(name=name, module=str(item.get("module", name)), upstreams=upstreams,
                                   edge=bool(item.get("edge", False)), index=index))
    names = {s.name for s in services}
    if len(names) != len(services):
        raise ConfigError(f"fleet manifest {path}: service names must be unique")
    for s in services:
        unknown = set(s.upstreams) - names
        if unknown:
            raise ConfigError(f"fleet manifest {path}: {s.name} calls unknown service(s) {sorted(unknown)}")
    if sum(s.edge for s in services) > 1:
        raise ConfigError(f"fleet manifest {path}: at most one service may be on the edge")
    init = raw.get("initial") or {}
    initial = InitialState(version=str(init.get("version", "v1")),
                           replicas=int(init.get("replicas", default_replicas)))
    if not VERSION_RE.match(initial.version):
        raise ConfigError(f"fleet manifest {path}: initial version {initial.version!r} must look like v1")
    return Manifest(services), initial
