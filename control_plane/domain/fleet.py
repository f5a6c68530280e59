"""The fleet as the control plane sees it: services, versions, desired and actual instances."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from control_plane.errors import NotFoundError, ValidationError

VERSION_RE = re.compile(r"^v[0-9]+[a-z0-9.-]{0,30}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MAX_REPLICAS = 16
MAX_LEAK_KB = 10_240  # 10 MiB per request is already a fast leak; more only kills the machine
MAX_CRASH_AFTER = 100_000_000


class Health(enum.Enum):
    """Health of one instance as the runtime last observed it."""

    STARTING = "starting"  # process started, /readyz not yet OK
    READY = "ready"  # answering /readyz
    UNHEALTHY = "unhealthy"  # running but failing health checks
    CRASHED = "crashed"  # exited; waiting for its back-off before a restart
    STOPPING = "stopping"  # draining before stop


@dataclass(frozen=True)
class ServiceDef:
    """One service of the fleet manifest."""

    name: str
    module: str  # python module run as `python -m fleet <name>`
    upstreams: tuple[str, ...] = ()  # services it calls (through their listeners)
    edge: bool = False  # served on the edge listener (the storefront)
    index: int = 0  # position in the manifest; fixes its listener port


@dataclass(frozen=True)
class Faults:
    """Misbehaviour injected into one service version (see fleet/README for exact semantics)."""

    error_rate: float = 0.0  # fraction of requests answered 500
    latency_ms: float = 0.0  # added to every request
    crash_after: int = 0  # process exits after this many requests (0: never)
    leak_kb_per_request: float = 0.0  # memory retained per request

    def to_dict(self) -> dict[str, float | int]:
        return {"error_rate": self.error_rate, "latency_ms": self.latency_ms,
                "crash_after": self.crash_after, "leak_kb_per_request": self.leak_kb_per_request}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object] | None) -> "Faults":
        raw = dict(raw or {})
        unknown = set(raw) - {"error_rate", "latency_ms", "crash_after", "leak_kb_per_request"}
        if unknown:
            raise ValidationError(f"unknown fault(s): {', '.join(sorted(unknown))}", field="faults")
        try:
            f = cls(error_rate=float(raw.get("error_rate", 0.0)),  # type: ignore[arg-type]
                    latency_ms=float(raw.get("latency_ms", 0.0)),  # type: ignore[arg-type]
                    crash_after=int(raw.get("crash_after", 0)),  # type: ignore[call-overload]
                    leak_kb_per_request=float(raw.get("leak_kb_per_request", 0.0)))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"faults must be numbers: {exc}", field="faults") from exc
        if not 0.0 <= f.error_rate <= 1.0:
            raise ValidationError("error_rate must be between 0 and 1", field="faults.error_rate")
        if f.latency_ms < 0 or f.latency_ms > 60_000:
            raise ValidationError("latency_ms must be between 0 and 60000", field="faults.latency_ms")
        if f.crash_after < 0:
            raise ValidationError("crash_after must be >= 0", field="faults.crash_after")
        if not 0 <= f.leak_kb_per_request <= MAX_LEAK_KB:
            raise ValidationError(f"leak_kb_per_request must be between 0 and {MAX_LEAK_KB}",
                                  field="faults.leak_kb_per_request")
        if f.crash_after > MAX_CRASH_AFTER:
            raise ValidationError(f"crash_after must be at most {MAX_CRASH_AFTER}", field="faults.crash_after")
        return f


@dataclass(frozen=True)
class VersionSpec:
    """Desired state of one version of one service."""

    service: str
    version: str
    replicas: int = 1
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True)
class Instance:
    """Actual state of one running (or restarting) instance."""

    id: str  # "<service>-<version>-<n>"
    service: str
    version: str
    port: int
    pid: int | None
    health: Health
    restarts: int
    started_at: float  # unix seconds


@dataclass(frozen=True)
class Endpoint:
    """Where the router sends traffic for one instance."""

    instance_id: str
    host: str
    port: int


class Manifest:
    """The fleet manifest: the services that exist and who calls whom."""

    def __init__(self, services: Sequence[ServiceDef]) -> None:
        self.services = {s.name: s for s in services}
        self.order = [s.name for s in services]

    def get(self, name: str) -> ServiceDef:
        try:
            return self.services[name]
        except KeyError:
            raise NotFoundError(f"unknown service {name!r} (known: {', '.join(self.order)})",
                                details={"service": name}) from None


def validate_version_spec(manifest: Manifest, spec: VersionSpec) -> VersionSpec:
    """Check a desired version against the manifest and the limits; raise ValidationError naming the field."""
    manifest.get(spec.service)
    if not VERSION_RE.match(spec.version):
        raise ValidationError(f"version {spec.version!r} must look like v1, v2, v2.1", field="version")
    if not 0 <= spec.replicas <= MAX_REPLICAS:
        raise ValidationError(f"replicas must be between 0 and {MAX_REPLICAS}", field="replicas")
    return spec


def validate_weights(manifest: Manifest, service: str, weights: Mapping[str, int],
                     known_versions: Sequence[str]) -> dict[str, int]:
    """Weights are percentages per version that sum to 100; every version must be deployed."""
    manifest.get(service)
    if not weights:
        raise ValidationError("weights must name at least one version", field="weights")
    out: dict[str, int] = {}
    for version, w in weights.items():
        if version not in known_versions:
            raise NotFoundError(f"{service} has no version {version!r} (deployed: {', '.join(known_versions)})",
                                details={"field": f"weights.{version}"})
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
            raise ValidationError(f"weight of {version} must be an integer 0..100", field=f"weights.{version}")
        out[version] = w
    if sum(out.values()) != 100:
        raise ValidationError(f"weights must sum to 100, got {sum(out.values())}", field="weights")
    return out


def server_weights(version_weights: Mapping[str, int], instances_per_version: Mapping[str, int],
                   scale: int = 256) -> dict[str, int]:
    """Per-server weight for each version so that versions get their share whatever their instance count.

    HAProxy weights are per server (0..256); a version with weight W% and n servers gets W*k/n per
    server, with k chosen so the largest per-server weight fits the scale.
    """
    raw: dict[str, float] = {}
    for version, w in version_weights.items():
        n = instances_per_version.get(version, 0)
        raw[version] = (w / n) if n else 0.0
    top = max(raw.values(), default=0.0)
    if top <= 0:
        return {v: 0 for v in version_weights}
    factor = scale / top
    return {v: (max(1, round(x * factor)) if x > 0 else 0) for v, x in raw.items()}
