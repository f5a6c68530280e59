"""The control plane's own telemetry: a trace span and Prometheus metrics per API request.

Library code here uses only the OpenTelemetry API; :func:`configure_tracing` (called once by an
entry point such as the daemon) installs the SDK and, when an endpoint is given, the OTLP/HTTP
exporter. Metrics live in their own ``CollectorRegistry`` served at ``/metrics``. Nothing in here
may raise into the request it observes.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("control_plane.observability")

SERVICE_NAME = "fleetdeck-control-plane"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def configure_tracing(otlp_endpoint: str | None, *, service_name: str = SERVICE_NAME,
                      exporter: object | None = None) -> TracerProvider:
    """Install the SDK tracer provider once; export over OTLP/HTTP to ``<otlp_endpoint>/v1/traces``.

    ``otlp_endpoint`` is e.g. ``http://127.0.0.1:4318`` (the collectors); None or "" exports nothing
    unless ``exporter`` (any SpanExporter, e.g. an in-memory one in tests) is given.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = SdkTracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    return provider


class ApiMetrics:
    """Request counts and latencies by route template and status, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("fleetdeck_api_requests_total", "API requests by route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("fleetdeck_api_request_duration_seconds",
                                  "API request latency by route template", ["method", "route"],
                                  buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics`` in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestTelemetry:
    """ASGI middleware: one server span and one metrics observation per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, tracer_provider: TracerProvider | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = trace.get_tracer("control_plane.api", tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        with self.tracer.start_as_current_span(method, kind=SpanKind.SERVER,
                                               record_exception=False, set_status_on_exception=False) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                self._finish(span, scope, method, status or 500, time.perf_counter() - started)

    def _finish(self, span: trace.Span, scope: Scope, method: str, status: int, seconds: float) -> None:
        try:
            from control_plane.api.frontdoor import route_template

            route = route_template(scope) or "unmatched"
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("url.path", scope.get("path", ""))
            span.set_attribute("http.response.status_code", status)
            request_id = scope.get("state", {}).get("request_id")
            if request_id:
                span.set_attribute("fleetdeck.request_id", request_id)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            self.metrics.observe(method, route, status, seconds)
        except Exception:  # telemetry never breaks a request
            log.exception("could not record telemetry for %s", scope.get("path"))
