"""The fleet facade the API uses: desired state in the store, the runtime and router following it.

Writes go to the store first (validated whole, nothing half-written), then to the runtime (which
reconciles in its own loop) and the router. Reads join desired versions with the instances the
runtime last observed. RED metrics per version come from Prometheus through the MetricsSource.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from control_plane.domain.fleet import (
    Faults,
    Instance,
    Manifest,
    VersionSpec,
    validate_version_spec,
    validate_weights,
)
from control_plane.errors import ConflictError, FleetdeckError, NotFoundError, TemporaryError, ValidationError
from control_plane.interfaces import MetricsSource, Router, Runtime
from control_plane.manifest import InitialState
from control_plane.settings import Settings
from control_plane.store.fleet_repo import DesiredVersion, FleetRepo

DURATION_RE = re.compile(r"^([0-9]+)(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
MAX_POINTS = 1500


class RangeSeries(Protocol):
    labels: Mapping[str, str]
    points: list[tuple[float, float]]


class RangeMetricsSource(MetricsSource, Protocol):
    """A MetricsSource that can also answer range queries (Prometheus does)."""

    def range_query(self, promql: str, start: datetime, end: datetime, step_s: float) -> Sequence[RangeSeries]: ...


def parse_duration(raw: str, field: str) -> int:
    """``15m`` → 900; rejects anything else with a ValidationError naming ``field``."""
    m = DURATION_RE.match(raw.strip()) if isinstance(raw, str) else None
    if not m or int(m.group(1)) <= 0:
        raise ValidationError(f"{field} must look like 30s, 15m, 2h or 1d, got {raw!r}", field=field)
    return int(m.group(1)) * UNITS[m.group(2)]


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat() if ts else None


def instance_json(inst: Instance) -> dict[str, Any]:
    return {"id": inst.id, "service": inst.service, "version": inst.version, "port": inst.port, "pid": inst.pid,
            "health": inst.health.value, "restarts": inst.restarts, "started_at": _iso(inst.started_at)}


class FleetService:
    """Registry, scaling, weights, instances, service discovery and RED metrics of the fleet."""

    def __init__(self, settings: Settings, manifest: Manifest, repo: FleetRepo, runtime: Runtime,
                 router: Router | None = None, metrics: MetricsSource | None = None, *,
                 initial: InitialState | None = None, static_targets: Sequence[Mapping[str, Any]] = (),
                 active_rollout: Callable[[str], Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.manifest, self.repo = settings, manifest, repo
        self.runtime, self.router, self.metrics = runtime, router, metrics
        self.initial = initial or InitialState()
        self.static_targets = [dict(t) for t in static_targets]
        self.active_rollout = active_rollout  # the rollouts controller plugs in here
        self._clock = clock
        self._write = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------
    def bootstrap(self) -> bool:
        """Store the manifest's initial version (at 100%) of every service never seen before (all of them on a
        first start, a service added to the manifest later); returns whether it stored any."""
        with self._write:
            new = [name for name in self.manifest.order if self.repo.resource_version(name) == 0]
            for name in new:
                self.repo.upsert_version(name, self.initial.version, self.initial.replicas, {}, weight_if_new=100)
            return bool(new)

    def start(self) -> None:
        """Push the stored weights to the router and the stored versions to the runtime."""
        with self._write:
            self._push_all()

    def _push_all(self) -> None:
        if self.router is not None:
            for name in self.manifest.order:
                versions = self.repo.versions(name)
                if versions:
                    self.router.set_weights(name, {v.version: v.weight for v in versions})
        self.runtime.apply(self._specs())

    def _specs(self) -> list[VersionSpec]:
        """Stored versions of the services the manifest still has (one removed from it is not run)."""
        return [VersionSpec(v.service, v.version, v.replicas, Faults.from_dict(v.faults))
                for v in self.repo.versions() if v.service in self.manifest.services]

    # --- reads ----------------------------------------------------------------------------------
    def list_services(self) -> list[dict[str, Any]]:
        by_service: dict[str, list[DesiredVersion]] = {}
        for v in self.repo.versions():
            by_service.setdefault(v.service, []).append(v)
        instances = self.runtime.instances()
        return [self._service_json(name, by_service.get(name, []), instances) for name in self.manifest.order]

    def get_service(self, name: str) -> dict[str, Any]:
        self.manifest.get(name)
        return self._service_json(name, self.repo.versions(name), self.runtime.instances())

    def resource_version(self, name: str) -> int:
        self.manifest.get(name)
        return self.repo.resource_version(name)

    def _service_json(self, name: str, versions: list[DesiredVersion], instances: list[Instance]) -> dict:
        sdef = self.manifest.get(name)
        return {
            "name": name,
            "listener_port": self.settings.listener_port(sdef.index),
            "edge": sdef.edge,
            "upstreams": list(sdef.upstreams),
            "resource_version": self.repo.resource_version(name),
            "versions": [{
                "version": v.version, "replicas": v.replicas, "weight": v.weight,
                "faults": Faults.from_dict(v.faults).to_dict(),
                "instances": [instance_json(i) for i in instances if i.service == name and i.version == v.version],
            } for v in versions],
            "active_rollout": self.active_rollout(name) if self.active_rollout else None,
        }

    def instances(self) -> list[dict[str, Any]]:
        return [instance_json(i) for i in self.runtime.instances()]

    def _version(self, service: str, version: str) -> DesiredVersion:
        self.manifest.get(service)
        for v in self.repo.versions(service):
            if v.version == version:
                return v
        known = ", ".join(v.version for v in self.repo.versions(service)) or "none"
        raise NotFoundError(f"{service} has no version {version!r} (deployed: {known})",
                            details={"service": service, "version": version})

    # --- writes ---------------------------------------------------------------------------------
    def deploy(self, service: str, version: str, replicas: int, faults: Mapping[str, Any] | None = None) -> dict:
        """Create or scale a version (and set its faults when given). A new version gets 0% unless it is the only one."""
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ValidationError("replicas must be an integer", field="replicas")
        validate_version_spec(self.manifest, VersionSpec(service, version, replicas))
        with self._write:
            existing = {v.version: v for v in self.repo.versions(service)}
            if faults is None:
                parsed = Faults.from_dict(existing[version].faults if version in existing else None)
            else:
                parsed = Faults.from_dict(faults)
            first = not any(v.weight for v in existing.values())
            self.repo.upsert_version(service, version, replicas, parsed.to_dict(), weight_if_new=100 if first else 0)
            if first and version not in existing and self.router is not None:
                self.router.set_weights(service, {version: 100})
            self.runtime.apply(self._specs())
        return self.get_service(service)

    def set_faults(self, service: str, version: str, faults: Mapping[str, Any]) -> dict:
        current = self._version(service, version)
        return self.deploy(service, version, current.replicas, faults)

    def remove_version(self, service: str, version: str) -> dict:
        """Stop and forget a version; refused while it still takes traffic next to other versions."""
        with self._write:
            target = self._version(service, version)
            others = [v for v in self.repo.versions(service) if v.version != version]
            if target.weight > 0 and others:
                raise ConflictError(f"{service} {version} still gets {target.weight}% of the traffic; "
                                    "shift its weight to other versions first",
                                    details={"service": service, "version": version, "weight": target.weight})
            self.repo.delete_version(service, version)
            self.runtime.apply(self._specs())
        return self.get_service(service)

    def set_weights(self, service: str, weights: Mapping[str, Any], expected_version: int | None = None) -> dict:
        """Set traffic percentages per version (sum 100); stale ``expected_version`` → ConflictError."""
        if not isinstance(weights, Mapping):
            raise ValidationError("weights must be an object like {\"v1\": 90, \"v2\": 10}", field="weights")
        with self._write:
            known = [v.version for v in self.repo.versions(service)] if service in self.manifest.services else []
            checked = validate_weights(self.manifest, service, dict(weights), known)
            full = {v: checked.get(v, 0) for v in known}
            new_rv = self.repo.set_weights(service, full, expected_version)
            if self.router is not None:
                try:
                    self.router.set_weights(service, full)
                except FleetdeckError as exc:
                    raise TemporaryError(f"weights stored but the router did not take them yet: {exc.message}") from exc
        return {"service": service, "weights": full, "resource_version": new_rv}

    def restart_instance(self, instance_id: str) -> dict:
        self.runtime.restart(instance_id)
        for inst in self.runtime.instances():
            if inst.id == instance_id:
                return instance_json(inst)
        raise NotFoundError(f"unknown instance {instance_id!r}", details={"instance": instance_id})

    # --- service discovery ----------------------------------------------------------------------
    def sd_targets(self) -> list[dict[str, Any]]:
        """Prometheus http_sd: every instance with a process, plus the static targets (HAProxy, collectors, us)."""
        groups: list[dict[str, Any]] = []
        for inst in self.runtime.instances():
            if inst.pid is None or not inst.port:
                continue
            groups.append({"targets": [f"127.0.0.1:{inst.port}"],
                           "labels": {"job": "fleet", "service": inst.service, "version": inst.version,
                                      "instance": inst.id}})
        return groups + [dict(t) for t in self.static_targets]

    # --- RED metrics ----------------------------------------------------------------------------
    def _range_source(self) -> RangeMetricsSource:
        if self.metrics is None or not hasattr(self.metrics, "range_query"):
            raise TemporaryError("no metrics source is configured (Prometheus is not running)")
        return self.metrics  # type: ignore[return-value]

    def _window(self, step_s: int) -> str:
        return f"{max(step_s, int(4 * self.settings.scrape_interval_s), 10)}s"

    def red_queries(self, selector: str, by: str, window: str) -> dict[str, str]:
        """PromQL for rps, error ratio and latency quantiles of the fleet series matching ``selector``."""
        reqs = f"fleet_http_requests_total{{{selector}}}"
        buckets = f"fleet_http_request_duration_seconds_bucket{{{selector}}}"
        out = {
            "rps": f"sum by ({by}) (rate({reqs}[{window}]))",
            # "or total * 0": a version with no 5xx yet has no error series; its ratio is 0, not missing.
            "error_ratio": (f"(sum by ({by}) (rate(fleet_http_requests_total{{{selector},code=~\"5..\"}}[{window}]))"
                            f" or sum by ({by}) (rate({reqs}[{window}])) * 0)"
                            f" / sum by ({by}) (rate({reqs}[{window}]))"),
        }
        for name, q in QUANTILES.items():
            out[name] = f"histogram_quantile({q}, sum by ({by}, le) (rate({buckets}[{window}])))"
        return out

    def service_metrics(self, service: str, range_: str = "15m", step: str = "15s") -> dict[str, Any]:
        """Per-version range series of rps, error_ratio, p50, p95, p99 for one service."""
        self.manifest.get(service)
        range_s, step_s = parse_duration(range_, "range"), parse_duration(step, "step")
        if range_s // step_s > MAX_POINTS:
            raise ValidationError(f"range/step gives more than {MAX_POINTS} points; use a larger step", field="step")
        source = self._range_source()
        end = datetime.fromtimestamp(self._clock(), tz=UTC)
        start = datetime.fromtimestamp(self._clock() - range_s, tz=UTC)
        versions: dict[str, dict[str, list[list[float]]]] = {
            v.version: {k: [] for k in ("rps", "error_ratio", *QUANTILES)} for v in self.repo.versions(service)}
        for metric, promql in self.red_queries(f'job="fleet",service="{service}"', "version",
                                               self._window(step_s)).items():
            for series in source.range_query(promql, start, end, step_s):
                version = series.labels.get("version")
                if version:
                    versions.setdefault(version, {k: [] for k in ("rps", "error_ratio", *QUANTILES)})
                    versions[version][metric] = [[t, v] for t, v in series.points]
        return {"service": service, "range": range_, "step": step, "start": start.isoformat(),
                "end": end.isoformat(), "versions": versions}

    def overview_metrics(self, range_: str = "10m", step: str = "30s") -> dict[str, Any]:
        """Per service: rps, error_ratio and p95 now, plus a short trend of each."""
        range_s, step_s = parse_duration(range_, "range"), parse_duration(step, "step")
        source = self._range_source()
        now = self._clock()
        end = datetime.fromtimestamp(now, tz=UTC)
        start = datetime.fromtimestamp(now - range_s, tz=UTC)
        queries = self.red_queries('job="fleet"', "service", self._window(step_s))
        out: dict[str, dict[str, Any]] = {
            name: {"service": name, "rps": None, "error_ratio": None, "p95": None,
                   "trend": {"rps": [], "error_ratio": [], "p95": []}} for name in self.manifest.order}
        for metric in ("rps", "error_ratio", "p95"):
            for series in source.range_query(queries[metric], start, end, step_s):
                name = series.labels.get("service")
                if name in out and series.points:
                    out[name]["trend"][metric] = [[t, v] for t, v in series.points]
                    out[name][metric] = series.points[-1][1]
        return {"range": range_, "step": step, "services": [out[n] for n in self.manifest.order]}
