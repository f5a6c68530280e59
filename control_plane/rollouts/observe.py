"""Turn Prometheus samples into the judge's inputs.

Each look reads the raw cumulative counters of both arms in one instant query per metric, at the
same evaluation time, grouped by version: requests, 5xx responses, the latency histogram buckets,
and the timestamp of the newest scrape. Two consecutive looks give one interval: the exact increase
of each counter between two scrapes (no ``rate()``/``increase()`` extrapolation, so counts are
whole and both arms cover the same window). A counter that went backwards (an instance restarted)
or an arm without series is a gap; a newest scrape older than the staleness bound is stale;
an unreachable source is said so. All of these hold the rollout, none passes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from control_plane.domain import judge as J
from control_plane.errors import FleetdeckError
from control_plane.interfaces import MetricsSource, Sample

REQUESTS = "fleet_http_requests_total"
BUCKETS = "fleet_http_request_duration_seconds_bucket"
READ_ATTEMPTS = 4


def queries(service: str, stable: str, canary: str) -> dict[str, str]:
    """The PromQL the judge reads (shown in every verdict's evidence)."""
    sel = f'service="{service}",version=~"{stable}|{canary}"'
    return {
        "requests": f"sum by (version) ({REQUESTS}{{{sel}}})",
        "errors": f'sum by (version) ({REQUESTS}{{{sel},code=~"5.."}})',
        "buckets": f"sum by (version, le) ({BUCKETS}{{{sel}}})",
        "newest": f"min by (version) (timestamp({REQUESTS}{{{sel}}}))",
    }


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counters of both arms as of their newest scrape."""

    at: float  # the newest scrape both arms have (the older of the two)
    requests: Mapping[str, float]
    errors: Mapping[str, float]
    buckets: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)


def _by_version(samples: list[Sample]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in samples:
        v = s.labels.get("version", "")
        out[v] = out.get(v, 0.0) + s.value
    return out


def _histograms(samples: list[Sample]) -> dict[str, tuple[tuple[float, float], ...]]:
    raw: dict[str, dict[float, float]] = {}
    for s in samples:
        try:
            le = float(s.labels.get("le", "nan"))
        except ValueError:
            continue
        if math.isnan(le):
            continue
        raw.setdefault(s.labels.get("version", ""), {})[le] = s.value
    return {v: tuple(sorted(b.items())) for v, b in raw.items()}


def snapshot(source: MetricsSource, service: str, stable: str, canary: str, now: float,
             *, with_latency: bool = True, canary_zero_before: float | None = None) -> Snapshot | J.Missing:
    """Read both arms at ``now``; a Missing says why the counts cannot be used.

    ``canary_zero_before``: the time the canary first got traffic. A canary without any series yet,
    while stable's newest scrape is at or before that time, had served nothing at that scrape: the
    snapshot then counts it as zero, so that the judge's first interval starts before the canary's
    first request instead of at its first scrape (its first requests are judged too, same window).
    """
    q = queries(service, stable, canary)
    shown = tuple(v for k, v in q.items() if with_latency or k != "buckets")
    at = datetime.fromtimestamp(now, tz=UTC)
    try:
        # The four reads are four queries: a scrape committed between them would give counts of two
        # different instants (a histogram ahead of its request counter). Re-read the request counts
        # last: unchanged means no scrape of these series landed in between (a histogram only moves
        # with its counter), so the set is consistent; otherwise read again.
        for _ in range(READ_ATTEMPTS):
            requests = _by_version(source.instant(q["requests"], at))
            errors = _by_version(source.instant(q["errors"], at))
            newest = _by_version(source.instant(q["newest"], at))
            buckets = _histograms(source.instant(q["buckets"], at)) if with_latency else {}
            if _by_version(source.instant(q["requests"], at)) == requests:
                break
        else:
            return J.Missing(J.MissingKind.GAP, f"counters kept moving during {READ_ATTEMPTS} reads", now, shown)
    except FleetdeckError as exc:
        return J.Missing(J.MissingKind.UNREACHABLE, f"metrics source: {exc.message}", now, shown)
    if (canary_zero_before is not None and canary not in requests and canary not in newest
            and stable in newest and stable in requests and (not with_latency or stable in buckets)
            and newest[stable] <= canary_zero_before):
        return Snapshot(at=newest[stable], requests={**requests, canary: 0.0}, errors=errors,
                        buckets={**buckets, canary: ()} if with_latency else buckets)
    for arm in (stable, canary):
        if arm not in requests or arm not in newest:
            return J.Missing(J.MissingKind.NO_DATA, f"no {REQUESTS} series for {service} {arm} yet", now, shown)
        if with_latency and arm not in buckets:
            return J.Missing(J.MissingKind.NO_DATA, f"no {BUCKETS} series for {service} {arm} yet", now, shown)
    return Snapshot(at=min(newest[stable], newest[canary]), requests=requests, errors=errors, buckets=buckets)


def interval(prev: Snapshot, cur: Snapshot, stable: str, canary: str, query_text: tuple[str, ...] = ()
             ) -> J.Observation | J.Missing | None:
    """The increase between two snapshots; None when no new scrape arrived since ``prev``."""
    if cur.at <= prev.at:
        return None

    def arm(v: str) -> J.ArmCounts:
        b_prev, b_cur = dict(prev.buckets.get(v, ())), cur.buckets.get(v, ())
        buckets = tuple((le, c - b_prev.get(le, 0.0)) for le, c in b_cur)
        return J.ArmCounts(cur.requests.get(v, 0.0) - prev.requests.get(v, 0.0),
                           cur.errors.get(v, 0.0) - prev.errors.get(v, 0.0), buckets)

    obs = J.Observation(prev.at, cur.at, arm(canary), arm(stable), query_text)
    problem = J.validate(obs)
    if problem:
        kind = J.MissingKind.GAP if "backwards" in problem or "cumulative" in problem else J.MissingKind.INVALID
        return J.Missing(kind, problem, cur.at, query_text)
    return obs


def expand(query: str, service: str, stable: str, canary: str) -> str:
    """Fill ``$service``, ``$stable`` and ``$canary`` in an extra check's query."""
    return query.replace("$service", service).replace("$stable", stable).replace("$canary", canary)


def scalar(source: MetricsSource, promql: str, now: float) -> float | None:
    """The value of a query returning one series (None when empty or unreachable)."""
    try:
        samples = source.instant(promql, datetime.fromtimestamp(now, tz=UTC))
    except FleetdeckError:
        return None
    return samples[0].value if samples else None
