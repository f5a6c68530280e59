"""The kit's telemetry: contract metrics, JSON logs with trace ids, OTel log bridge, W3C propagation."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from fleet.kit.faults import FaultConfig
from fleet.kit.logs import JsonFormatter, OtelLogBridge
from fleet.kit.metrics import DURATION_BUCKETS
from fleet.kit.settings import FleetSettings
from fleet.services import catalog

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{PARENT_TRACE}-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(spans))
    return p


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def app_for(tmp_path: Path, provider: TracerProvider, registry: CollectorRegistry, **faults: float) -> Any:
    settings = FleetSettings(service="catalog", version="v2", instance_id="catalog-v2-3", data_dir=tmp_path,
                             faults=FaultConfig(**faults))  # type: ignore[arg-type]
    return catalog.build(settings, tracer_provider=provider, registry=registry)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_metrics_have_the_contract_names_labels_and_buckets(tmp_path: Path, provider: TracerProvider,
                                                                  registry: CollectorRegistry) -> None:
    async with client(app_for(tmp_path, provider, registry)) as c:
        await c.get("/products/mug")
        await c.get("/products/nope")
        await c.get("/healthz")
        await c.get("/metrics")
    labels = {"service": "catalog", "version": "v2", "instance": "catalog-v2-3"}
    get = registry.get_sample_value
    assert get("fleet_http_requests_total", {**labels, "route": "/products/{product_id}", "method": "GET",
                                             "code": "200"}) == 1
    assert get("fleet_http_requests_total", {**labels, "route": "/products/{product_id}", "method": "GET",
                                             "code": "404"}) == 1
    assert get("fleet_http_request_duration_seconds_count", {**labels, "route": "/products/{product_id}"}) == 2
    assert get("fleet_http_requests_in_flight", labels) == 0
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert get("fleet_http_requests_total", {**labels, "route": probe, "method": "GET", "code": "200"}) is None
    buckets = sorted({float(s.labels["le"]) for m in registry.collect() for s in m.samples
                      if s.name == "fleet_http_request_duration_seconds_bucket"})
    assert buckets == [*map(float, DURATION_BUCKETS), float("inf")]
    assert get("process_resident_memory_bytes") > 0  # a leak fault shows up here


async def test_incoming_trace_context_is_continued(tmp_path: Path, provider: TracerProvider,
                                                   registry: CollectorRegistry, spans: InMemorySpanExporter) -> None:
    async with client(app_for(tmp_path, provider, registry)) as c:
        await c.get("/products/mug", headers={"traceparent": PARENT})
        await c.get("/products")
        await c.get("/readyz")
    server = spans.get_finished_spans()
    assert [s.name for s in server] == ["GET /products/{product_id}", "GET /products"]  # probes make no spans
    first, second = server
    assert format(first.context.trace_id, "032x") == PARENT_TRACE
    assert first.parent is not None and format(first.parent.span_id, "016x") == "b7ad6b7169203331"
    assert first.attributes["http.route"] == "/products/{product_id}"
    assert first.attributes["http.response.status_code"] == 200
    assert second.parent is None  # no incoming context: a new trace


async def test_injected_faults_mark_the_span_as_error(tmp_path: Path, provider: TracerProvider,
                                                      registry: CollectorRegistry, spans: InMemorySpanExporter) -> None:
    async with client(app_for(tmp_path, provider, registry, error_rate=1.0)) as c:
        assert (await c.get("/products")).status_code == 500
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.ERROR and span.attributes["fleet.fault.injected"] is True


@pytest.fixture
def captured_logs() -> Iterator[tuple[io.StringIO, LoggerProvider, InMemoryLogRecordExporter]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("catalog", "v2", "catalog-v2-3"))
    exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    bridge = OtelLogBridge(logger_provider)
    access = logging.getLogger("fleet.access")
    old_level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    access.addHandler(bridge)
    try:
        yield out, logger_provider, exporter
    finally:
        access.removeHandler(handler)
        access.removeHandler(bridge)
        access.setLevel(old_level)


async def test_log_lines_carry_the_trace_and_span_ids(tmp_path: Path, provider: TracerProvider,
                                                      registry: CollectorRegistry, spans: InMemorySpanExporter,
                                                      captured_logs: Any) -> None:
    out, _, exporter = captured_logs
    async with client(app_for(tmp_path, provider, registry)) as c:
        await c.get("/products/mug", headers={"traceparent": PARENT})
    (span,) = spans.get_finished_spans()
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["trace_id"] == PARENT_TRACE and line["span_id"] == format(span.context.span_id, "016x")
    assert (line["service"], line["version"], line["instance"]) == ("catalog", "v2", "catalog-v2-3")
    assert (line["http_route"], line["http_status"], line["level"]) == ("/products/{product_id}", 200, "info")
    (record,) = exporter.get_finished_logs()
    assert format(record.log_record.trace_id, "032x") == PARENT_TRACE
    assert record.log_record.body == "GET /products/mug 200"
    assert record.log_record.attributes["http_route"] == "/products/{product_id}"


def test_outside_a_span_trace_ids_are_empty() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = json.loads(JsonFormatter("s", "v1", "i").format(record))
    assert (line["message"], line["trace_id"], line["span_id"], line["level"]) == ("hello you", "", "", "warning")


async def test_broken_telemetry_never_reaches_the_service(tmp_path: Path, registry: CollectorRegistry) -> None:
    class Exploding(InMemorySpanExporter):
        def export(self, spans: Any) -> Any:
            raise RuntimeError("collector on fire")

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Exploding()))
    app = app_for(tmp_path, provider, registry)
    app.state.kit.metrics.requests = None  # recording will raise AttributeError inside the kit
    async with client(app) as c:
        assert (await c.get("/products/mug")).status_code == 200
