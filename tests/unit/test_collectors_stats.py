"""Service-graph edges, per-operation RED, quantiles and time parsing."""

from __future__ import annotations

import pytest

from collectors.query.stats import operations, quantile, service_graph
from collectors.query.timefmt import BadTime, format_ns, parse_time


def test_quantile_interpolates() -> None:
    assert quantile([], 0.5) is None
    assert quantile([1.0], 0.99) == 1.0
    assert quantile([0.0, 10.0], 0.5) == 5.0
    assert quantile(list(range(101)), 0.95) == 95


def test_service_graph_counts_requests_errors_and_latency_per_edge() -> None:
    calls = [("frontend", "checkout", 10_000_000, 0), ("frontend", "checkout", 30_000_000, 2),
             ("checkout", "cart", 2_000_000, 1)]
    edges = service_graph(calls)
    assert edges == [
        {"source": "checkout", "target": "cart", "requests": 1, "errors": 0, "p50_ms": 2.0, "p95_ms": 2.0,
         "p99_ms": 2.0},
        {"source": "frontend", "target": "checkout", "requests": 2, "errors": 1, "p50_ms": 20.0, "p95_ms": 29.0,
         "p99_ms": 29.8},
    ]


def test_operations_red() -> None:
    rows = [("GET /cart", 2, 1_000_000, 0)] * 9 + [("GET /cart", 2, 11_000_000, 2), ("db", 3, 5, 0)]
    ops = operations(rows, window_s=10)
    assert ops[0]["operation"] == "GET /cart" and ops[0]["requests"] == 10 and ops[0]["errors"] == 1
    assert ops[0]["rate_per_s"] == 1.0 and ops[0]["error_ratio"] == 0.1 and ops[0]["p50_ms"] == 1.0


def test_times_parse_rfc3339_and_unix_seconds() -> None:
    assert parse_time("1700000000") == 1_700_000_000_000_000_000
    assert parse_time("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000_000_000
    assert parse_time("2023-11-14T23:13:20.000000001+01:00") == 1_700_000_000_000_000_001
    assert format_ns(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    for bad in ("yesterday", "", "2023-13-01T00:00:00Z", "1e400"):
        with pytest.raises(BadTime):
            parse_time(bad)
