"""The rollout spec: what to roll out, in which steps, judged how, and who to tell.

Parsed from plain data (JSON from the API, YAML from the CLI), validated whole: the first
problem raises :class:`ValidationError` naming the field (``steps[2].setWeight``), and nothing is
half-accepted. ``parse_spec({"service": "cart", "version": "v2"})`` alone gives the default plan:
10% -> 25% -> 50% with an analysis gate at each weight, then promotion.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from control_plane.domain.fleet import MAX_REPLICAS, NAME_RE, VERSION_RE
from control_plane.domain.judge import JudgeConfig
from control_plane.errors import ValidationError

MAX_STEPS = 50
DEFAULT_ANALYSIS_S = 60.0
_DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class StepKind(enum.Enum):
    """What one step of a rollout does."""

    SET_WEIGHT = "setWeight"  # route this percentage of the service's traffic to the canary
    PAUSE = "pause"  # wait for a duration, or (without one) until an operator promotes
    ANALYSIS = "analysis"  # wait until the judge passes the canary at this weight (at least `duration`)


class HookKind(enum.Enum):
    """When a webhook is called."""

    PRE_ROLLOUT = "pre-rollout"  # before the canary gets traffic; a refusal holds the rollout
    CONFIRM_PROMOTION = "confirm-promotion"  # before promotion; a refusal holds the rollout
    POST_ROLLOUT = "post-rollout"  # after promotion (informational)
    ROLLBACK = "rollback"  # after a rollback (informational)

    @property
    def gating(self) -> bool:
        return self in (HookKind.PRE_ROLLOUT, HookKind.CONFIRM_PROMOTION)


class NotifyKind(enum.Enum):
    """Body format of a state-change notification."""

    GENERIC = "generic"  # {"rollout": ..., "phase": ..., "reason": ...}
    SLACK = "slack"  # {"text": ...} (Slack-compatible incoming webhook)


@dataclass(frozen=True)
class Step:
    kind: StepKind
    weight: int | None = None  # setWeight only
    duration_s: float | None = None  # pause: None = until promoted; analysis: minimum time at this weight

    def to_dict(self) -> dict[str, Any]:
        if self.kind is StepKind.SET_WEIGHT:
            return {"setWeight": self.weight}
        return {self.kind.value: {} if self.duration_s is None else {"duration": f"{self.duration_s:g}s"}}


@dataclass(frozen=True)
class Webhook:
    kind: HookKind
    url: str
    timeout_s: float = 5.0
    retries: int = 2


@dataclass(frozen=True)
class Notification:
    url: str
    kind: NotifyKind = NotifyKind.GENERIC


@dataclass(frozen=True)
class ExtraCheck:
    """A PromQL query whose value must stay within [min, max] (``$service``/``$canary``/``$stable`` expand)."""

    name: str
    query: str
    min: float | None = None
    max: float | None = None
    failure_limit: int = 3  # consecutive out-of-range evaluations before it fails


@dataclass(frozen=True)
class AnalysisSpec:
    """How the canary is judged (see control_plane/domain/judge.py)."""

    alpha: float = 0.01
    interval_s: float = 2.0
    min_canary_requests: int = 200
    max_staleness_s: float = 30.0
    errors: bool = True
    error_margin: float = 0.25
    latency: bool = True
    latency_quantile: float = 0.95
    latency_margin: float = 0.25
    latency_edge_s: float | None = None
    extra: tuple[ExtraCheck, ...] = ()

    def judge_config(self) -> JudgeConfig:
        return JudgeConfig(alpha=self.alpha, error_margin=self.error_margin, latency_margin=self.latency_margin,
                           latency_quantile=self.latency_quantile, latency_edge_s=self.latency_edge_s,
                           min_canary_requests=self.min_canary_requests, max_staleness_s=self.max_staleness_s,
                           check_errors=self.errors, check_latency=self.latency)


DEFAULT_STEPS: tuple[Step, ...] = (
    Step(StepKind.SET_WEIGHT, weight=10), Step(StepKind.ANALYSIS, duration_s=DEFAULT_ANALYSIS_S),
    Step(StepKind.SET_WEIGHT, weight=25), Step(StepKind.ANALYSIS, duration_s=DEFAULT_ANALYSIS_S),
    Step(StepKind.SET_WEIGHT, weight=50), Step(StepKind.ANALYSIS, duration_s=DEFAULT_ANALYSIS_S),
)


@dataclass(frozen=True)
class RolloutSpec:
    """A validated rollout spec."""

    service: str
    version: str
    steps: tuple[Step, ...] = DEFAULT_STEPS
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    canary_replicas: int = 1
    webhooks: tuple[Webhook, ...] = ()
    notifications: tuple[Notification, ...] = ()

    def hooks(self, kind: HookKind) -> tuple[Webhook, ...]:
        return tuple(h for h in self.webhooks if h.kind is kind)

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {
            "service": self.service, "version": self.version, "canary_replicas": self.canary_replicas,
            "steps": [s.to_dict() for s in self.steps],
            "analysis": {"alpha": a.alpha, "interval": f"{a.interval_s:g}s",
                         "min_canary_requests": a.min_canary_requests, "max_staleness": f"{a.max_staleness_s:g}s",
                         "errors": {"enabled": a.errors, "margin": a.error_margin},
                         "latency": {"enabled": a.latency, "quantile": a.latency_quantile,
                                     "margin": a.latency_margin, "edge": a.latency_edge_s},
                         "checks": [{"name": c.name, "query": c.query, "min": c.min, "max": c.max,
                                     "failure_limit": c.failure_limit} for c in a.extra]},
            "webhooks": [{"type": h.kind.value, "url": h.url, "timeout": f"{h.timeout_s:g}s", "retries": h.retries}
                         for h in self.webhooks],
            "notifications": [{"url": n.url, "kind": n.kind.value} for n in self.notifications],
        }


# --- parsing -------------------------------------------------------------------------------------

def parse_duration(raw: Any, field_name: str) -> float:
    """Seconds from a number or a string like 500ms, 30s, 2m, 1h."""
    if isinstance(raw, bool):
        raise ValidationError(f"{field_name} must be a duration like 30s or 2m", field=field_name)
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str) and (m := _DURATION_RE.match(raw.strip())):
        value = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValidationError(f"{field_name} must be a duration like 30s or 2m, got {raw!r}", field=field_name)
    if not math.isfinite(value) or value < 0 or value > 7 * 24 * 3600:
        raise ValidationError(f"{field_name} must be between 0s and 7 days", field=field_name)
    return value


def _mapping(raw: Any, field_name: str, allowed: set[str]) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{field_name} must be an object", field=field_name)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        where = f"{field_name}.{unknown[0]}" if field_name else unknown[0]
        raise ValidationError(f"unknown field {where!r} (allowed: {', '.join(sorted(allowed))})", field=where)
    return raw


def _number(raw: Any, field_name: str, low: float, high: float, *, integer: bool = False,
            open_low: bool = False) -> float:
    ok_type = isinstance(raw, int) if integer else isinstance(raw, (int, float))
    if isinstance(raw, bool) or not ok_type or not math.isfinite(raw):
        kind = "an integer" if integer else "a number"
        raise ValidationError(f"{field_name} must be {kind}", field=field_name)
    if raw < low or raw > high or (open_low and raw == low):
        raise ValidationError(f"{field_name} must be {'>' if open_low else '>='} {low:g} and <= {high:g}",
                              field=field_name)
    return raw


def _bool(raw: Any, field_name: str) -> bool:
    if not isinstance(raw, bool):
        raise ValidationError(f"{field_name} must be true or false", field=field_name)
    return raw


def _url(raw: Any, field_name: str) -> str:
    if not isinstance(raw, str) or not re.match(r"^https?://[^\s/]+", raw) or len(raw) > 2000:
        raise ValidationError(f"{field_name} must be an http(s) URL", field=field_name)
    return raw


def _steps(raw: Any) -> tuple[Step, ...]:
    if raw is None:
        return DEFAULT_STEPS
    if not isinstance(raw, list) or not raw:
        raise ValidationError("steps must be a non-empty list", field="steps")
    if len(raw) > MAX_STEPS:
        raise ValidationError(f"at most {MAX_STEPS} steps", field="steps")
    steps: list[Step] = []
    last_weight = 0
    for i, item in enumerate(raw):
        where = f"steps[{i}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ValidationError(f"{where} must have exactly one of setWeight, pause, analysis", field=where)
        (key, value), = item.items()
        try:
            kind = StepKind(key)
        except ValueError:
            raise ValidationError(f"{where}: unknown step {key!r} (setWeight, pause, analysis)",
                                  field=f"{where}.{key}") from None
        if kind is StepKind.SET_WEIGHT:
            w = int(_number(value, f"{where}.setWeight", 1, 100, integer=True))
            if w <= last_weight:
                raise ValidationError(f"{where}.setWeight must be above the previous weight ({last_weight})",
                                      field=f"{where}.setWeight")
            last_weight = w
            steps.append(Step(kind, weight=w))
            continue
        if last_weight == 0:
            raise ValidationError(f"{where}: a {key} before any setWeight would watch a canary with no traffic",
                                  field=where)
        body = _mapping(value, f"{where}.{key}", {"duration"})
        duration = None
        if "duration" in body:
            duration = parse_duration(body["duration"], f"{where}.{key}.duration")
        elif kind is StepKind.ANALYSIS:
            duration = DEFAULT_ANALYSIS_S
        steps.append(Step(kind, duration_s=duration))
    if last_weight == 0:
        raise ValidationError("steps must contain at least one setWeight", field="steps")
    return tuple(steps)


def _analysis(raw: Any) -> AnalysisSpec:
    a = _mapping(raw, "analysis", {"alpha", "interval", "min_canary_requests", "max_staleness", "errors",
                                   "latency", "checks"})
    d = AnalysisSpec()
    errors = _mapping(a.get("errors"), "analysis.errors", {"enabled", "margin"})
    latency = _mapping(a.get("latency"), "analysis.latency", {"enabled", "quantile", "margin", "edge"})
    extra: list[ExtraCheck] = []
    checks = a.get("checks", [])
    if not isinstance(checks, list):
        raise ValidationError("analysis.checks must be a list", field="analysis.checks")
    names: set[str] = set()
    for i, c in enumerate(checks):
        where = f"analysis.checks[{i}]"
        body = _mapping(c, where, {"name", "query", "min", "max", "failure_limit"})
        name, query = body.get("name"), body.get("query")
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_-]{0,40}$", name) or name in names:
            raise ValidationError(f"{where}.name must be a unique lowercase name", field=f"{where}.name")
        names.add(name)
        if not isinstance(query, str) or not query.strip() or len(query) > 4000:
            raise ValidationError(f"{where}.query must be a PromQL expression", field=f"{where}.query")
        low = _number(body["min"], f"{where}.min", -1e300, 1e300) if body.get("min") is not None else None
        high = _number(body["max"], f"{where}.max", -1e300, 1e300) if body.get("max") is not None else None
        if low is None and high is None:
            raise ValidationError(f"{where} needs min, max or both", field=f"{where}.min")
        if low is not None and high is not None and low > high:
            raise ValidationError(f"{where}.min is above max", field=f"{where}.min")
        limit = int(_number(body.get("failure_limit", 3), f"{where}.failure_limit", 1, 100, integer=True))
        extra.append(ExtraCheck(name, query, low, high, limit))
    edge = latency.get("edge")
    spec = AnalysisSpec(
        alpha=_number(a.get("alpha", d.alpha), "analysis.alpha", 0.0, 0.5, open_low=True),
        interval_s=parse_duration(a.get("interval", d.interval_s), "analysis.interval"),
        min_canary_requests=int(_number(a.get("min_canary_requests", d.min_canary_requests),
                                        "analysis.min_canary_requests", 1, 10**9, integer=True)),
        max_staleness_s=parse_duration(a.get("max_staleness", d.max_staleness_s), "analysis.max_staleness"),
        errors=_bool(errors.get("enabled", True), "analysis.errors.enabled"),
        error_margin=_number(errors.get("margin", d.error_margin), "analysis.errors.margin", 0.0, 10.0),
        latency=_bool(latency.get("enabled", True), "analysis.latency.enabled"),
        latency_quantile=_number(latency.get("quantile", d.latency_quantile), "analysis.latency.quantile",
                                 0.5, 0.999),
        latency_margin=_number(latency.get("margin", d.latency_margin), "analysis.latency.margin", 0.0, 10.0),
        latency_edge_s=None if edge is None else parse_duration(edge, "analysis.latency.edge"),
        extra=tuple(extra))
    if not 0.5 <= spec.interval_s <= 300:
        raise ValidationError("analysis.interval must be between 0.5s and 5m", field="analysis.interval")
    if not (spec.errors or spec.latency or spec.extra):
        raise ValidationError("analysis must keep at least one check", field="analysis")
    return spec


def parse_spec(raw: Any) -> RolloutSpec:
    """Validate a whole spec; raise ValidationError naming the first bad field."""
    r = _mapping(raw, "", {"service", "version", "steps", "analysis", "canary_replicas", "webhooks",
                           "notifications"})
    service, version = r.get("service"), r.get("version")
    if not isinstance(service, str) or not NAME_RE.match(service):
        raise ValidationError("service must be a service name like cart", field="service")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ValidationError(f"version {version!r} must look like v1, v2, v2.1", field="version")
    replicas = int(_number(r.get("canary_replicas", 1), "canary_replicas", 1, MAX_REPLICAS, integer=True))
    hooks_raw = r.get("webhooks", [])
    if not isinstance(hooks_raw, list):
        raise ValidationError("webhooks must be a list", field="webhooks")
    hooks = []
    for i, h in enumerate(hooks_raw):
        where = f"webhooks[{i}]"
        body = _mapping(h, where, {"type", "url", "timeout", "retries"})
        try:
            kind = HookKind(body.get("type"))
        except ValueError:
            raise ValidationError(f"{where}.type must be one of {', '.join(k.value for k in HookKind)}",
                                  field=f"{where}.type") from None
        timeout = parse_duration(body.get("timeout", 5.0), f"{where}.timeout")
        if not 0 < timeout <= 60:
            raise ValidationError(f"{where}.timeout must be between 0s and 60s", field=f"{where}.timeout")
        retries = int(_number(body.get("retries", 2), f"{where}.retries", 0, 10, integer=True))
        hooks.append(Webhook(kind, _url(body.get("url"), f"{where}.url"), timeout, retries))
    notes_raw = r.get("notifications", [])
    if not isinstance(notes_raw, list):
        raise ValidationError("notifications must be a list", field="notifications")
    notes = []
    for i, n in enumerate(notes_raw):
        where = f"notifications[{i}]"
        body = _mapping(n, where, {"url", "kind"})
        try:
            kind_n = NotifyKind(body.get("kind", "generic"))
        except ValueError:
            raise ValidationError(f"{where}.kind must be generic or slack", field=f"{where}.kind") from None
        notes.append(Notification(_url(body.get("url"), f"{where}.url"), kind_n))
    return RolloutSpec(service=service, version=version, steps=_steps(r.get("steps")),
                       analysis=_analysis(r.get("analysis")), canary_replicas=replicas,
                       webhooks=tuple(hooks), notifications=tuple(notes))
