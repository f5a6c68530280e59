"""Prometheus metrics of a fleet service, named exactly as docs/CONTRACTS.md says.

Each app gets its own ``CollectorRegistry`` so tests (and several apps in one process) never share
counters. Recording never raises into the service.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

_log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10)


class FleetMetrics:
    """The three request metrics of the contract, bound to one service instance."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, service: str, version: str, instance: str, registry: CollectorRegistry | None = None,
                 process_metrics: bool = True):
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:  # process_resident_memory_bytes etc.: how a leak shows up in Prometheus
            ProcessCollector(registry=self.registry)
        self._base = (service, version, instance)
        self.instance = instance
        self.requests = Counter("fleet_http_requests_total", "HTTP requests handled (probes excluded)",
                                ["service", "version", "instance", "route", "method", "code"],
                                registry=self.registry)
        self.duration = Histogram("fleet_http_request_duration_seconds", "HTTP request duration (probes excluded)",
                                  ["service", "version", "instance", "route"], buckets=DURATION_BUCKETS,
                                  registry=self.registry)
        self.in_flight = Gauge("fleet_http_requests_in_flight", "HTTP requests being handled (probes excluded)",
                               ["service", "version", "instance"], registry=self.registry)
        self._in_flight = self.in_flight.labels(*self._base)

    def started(self) -> None:
        """A counted request began."""
        try:
            self._in_flight.inc()
        except Exception:  # noqa: BLE001 - telemetry must never raise into the service
            _log.debug("metrics: in-flight inc failed", exc_info=True)

    def finished(self, route: str, method: str, code: int, seconds: float) -> None:
        """A counted request ended with status ``code`` after ``seconds``."""
        try:
            self._in_flight.dec()
            self.requests.labels(*self._base, route, method, str(code)).inc()
            self.duration.labels(*self._base, route).observe(seconds)
        except Exception:  # noqa: BLE001
            _log.debug("metrics: recording failed", exc_info=True)

    def render(self) -> bytes:
        """The exposition text for /metrics."""
        return generate_latest(self.registry)
