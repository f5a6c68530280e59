"""Aggregations over spans: service-graph edges and per-operation RED figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

STATUS_ERROR = 2


def quantile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _latency(durations_ns: list[int]) -> dict[str, float | None]:
    durations_ns.sort()
    out: dict[str, float | None] = {}
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        v = quantile(durations_ns, q)
        out[name] = None if v is None else round(v / 1e6, 3)
    return out


def service_graph(calls: Iterable[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """Edges from (caller service, callee service, callee duration_ns, callee status_code) rows.

    One row per cross-service parent/child span pair; the callee's span gives the latency and
    whether the call failed.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    errors: dict[tuple[str, str], int] = defaultdict(int)
    for caller, callee, duration, status in calls:
        key = (caller, callee)
        groups[key].append(duration)
        if status == STATUS_ERROR:
            errors[key] += 1
    edges = []
    for (caller, callee), durations in sorted(groups.items()):
        edges.append({"source": caller, "target": callee, "requests": len(durations),
                      "errors": errors[(caller, callee)], **_latency(durations)})
    return edges


def operations(rows: Iterable[tuple[str, int, int, int]], window_s: float) -> list[dict[str, Any]]:
    """RED per (operation, kind) from (name, kind, duration_ns, status_code) rows over ``window_s`` seconds."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    errors: dict[tuple[str, int], int] = defaultdict(int)
    for name, kind, duration, status in rows:
        groups[(name, kind)].append(duration)
        if status == STATUS_ERROR:
            errors[(name, kind)] += 1
    out = []
    for (name, kind), durations in groups.items():
        n = len(durations)
        out.append({"operation": name, "kind": kind, "requests": n, "errors": errors[(name, kind)],
                    "rate_per_s": round(n / window_s, 4) if window_s > 0 else None,
                    "error_ratio": round(errors[(name, kind)] / n, 6), **_latency(durations)})
    out.sort(key=lambda o: (-o["requests"], o["operation"]))
    return out
