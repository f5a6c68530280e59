"""What the load generator saw: counts per step and status, and latency percentiles."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class StepStats:
    """Requests of one journey step."""

    statuses: Counter[str] = field(default_factory=Counter)  # "200", "402", "error:ConnectError" ...
    latencies_ms: list[float] = field(default_factory=list)

    def record(self, status: str, latency_ms: float) -> None:
        self.statuses[status] += 1
        self.latencies_ms.append(latency_ms)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {"requests": len(lat), "statuses": dict(sorted(self.statuses.items())),
                "p50_ms": _r(percentile(lat, 50)), "p95_ms": _r(percentile(lat, 95)), "p99_ms": _r(percentile(lat, 99))}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


@dataclass
class Report:
    """The whole run."""

    target: str
    rate: float
    duration_s: float  # asked
    elapsed_s: float = 0.0  # actual
    journeys_started: int = 0
    journeys_completed: int = 0  # every step answered as expected (a declined card answered 402 counts)
    journeys_failed: int = 0  # stopped at a step that failed
    journeys_dropped: int = 0  # not started: the concurrency bound was reached
    orders: int = 0
    declined: int = 0
    steps: dict[str, StepStats] = field(default_factory=dict)

    def step(self, name: str) -> StepStats:
        return self.steps.setdefault(name, StepStats())

    @property
    def requests(self) -> int:
        return sum(len(s.latencies_ms) for s in self.steps.values())

    def status_totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for s in self.steps.values():
            total.update(s.statuses)
        return dict(sorted(total.items()))

    def error_requests(self) -> int:
        """Requests answered 5xx or not answered at all."""
        return sum(n for code, n in self.status_totals().items() if code.startswith(("5", "error")))

    def to_dict(self) -> dict[str, Any]:
        lat = sorted(x for s in self.steps.values() for x in s.latencies_ms)
        return {
            "target": self.target, "rate": self.rate, "duration_s": self.duration_s,
            "elapsed_s": round(self.elapsed_s, 3),
            "journeys": {"started": self.journeys_started, "completed": self.journeys_completed,
                         "failed": self.journeys_failed, "dropped": self.journeys_dropped,
                         "orders": self.orders, "declined": self.declined},
            "requests": self.requests, "statuses": self.status_totals(), "errors": self.error_requests(),
            "latency_ms": {"p50": _r(percentile(lat, 50)), "p95": _r(percentile(lat, 95)),
                           "p99": _r(percentile(lat, 99))},
            "steps": {name: s.summary() for name, s in self.steps.items()},
        }

    def to_table(self) -> str:
        d = self.to_dict()
        j = d["journeys"]
        lines = [f"target {self.target}  rate {self.rate}/s  elapsed {d['elapsed_s']}s",
                 (f"journeys: {j['started']} started, {j['completed']} completed, {j['failed']} failed, "
                  f"{j['dropped']} dropped; {j['orders']} orders, {j['declined']} declined"),
                 (f"requests: {d['requests']} ({d['errors']} errors)  p50 {d['latency_ms']['p50']} ms  "
                  f"p95 {d['latency_ms']['p95']} ms  p99 {d['latency_ms']['p99']} ms"), "",
                 f"{'step':<14}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses"]
        for name, s in d["steps"].items():
            statuses = " ".join(f"{k}:{v}" for k, v in s["statuses"].items())
            lines.append(f"{name:<14}{s['requests']:>9}{_f(s['p50_ms']):>9}{_f(s['p95_ms']):>9}"
                         f"{_f(s['p99_ms']):>9}  {statuses}")
        return "\n".join(lines)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"
