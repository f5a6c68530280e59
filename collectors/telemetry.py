"""The collectors' own metrics, in a registry of their own, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SelfMetrics:
    """Accepted / rejected / refused / dropped counts, queue depth and batch write latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "collectors_accepted_items", "Spans or log records answered with success (queued for the store).",
            ["signal"], registry=r)
        self.rejected = Counter(
            "collectors_rejected_items",
            "Items refused as invalid: partial-success rejections (one per item) and whole bad requests "
            "(one per request, reason=request).", ["signal", "reason"], registry=r)
        self.refused = Counter(
            "collectors_refused_requests", "Requests answered 429/503 because the ingest queue was full or closing.",
            ["signal", "reason"], registry=r)
        self.dropped = Counter(
            "collectors_dropped_items", "Accepted items that could not be written (store failure at shutdown).",
            ["signal"], registry=r)
        self.written = Counter(
            "collectors_written_items", "Items committed to the store.", ["signal"], registry=r)
        self.retention_deleted = Counter(
            "collectors_retention_deleted_items", "Items deleted by retention.", ["signal", "rule"], registry=r)
        self.queue_depth = Gauge(
            "collectors_queue_depth_items", "Items accepted but not yet committed.", registry=r)
        self.queue_capacity = Gauge(
            "collectors_queue_capacity_items", "Items the ingest queue holds before pushing back.", registry=r)
        self.batch_seconds = Histogram(
            "collectors_batch_write_seconds", "Time to write and commit one batch.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.batch_items = Histogram(
            "collectors_batch_write_items", "Items per committed batch.",
            buckets=(1, 8, 64, 256, 512, 1024, 2048, 4096, 8192, 16384), registry=r)
        self.write_errors = Counter(
            "collectors_write_errors", "Batch writes that failed and were retried.", registry=r)
