"""OpenTelemetry SDK set-up, done once by the entry point (library code uses only the API).

With telemetry on, a TracerProvider is always installed (so trace ids exist for logs and
propagation); spans and log records are exported over OTLP/HTTP only when an endpoint is set
(``OTEL_EXPORTER_OTLP_ENDPOINT``, read into FleetSettings). With telemetry off nothing is
installed and the API stays a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from fleet.kit.settings import FleetSettings

_log = logging.getLogger(__name__)

EXPORT_TIMEOUT_S = 5.0


@dataclass
class Telemetry:
    """Handles to flush and shut down what was installed."""

    shutdowns: list[Callable[[], object]] = field(default_factory=list)

    def shutdown(self) -> None:
        """Flush and stop exporters; never raises."""
        for stop in self.shutdowns:
            try:
                stop()
            except Exception:  # noqa: BLE001
                _log.debug("telemetry shutdown failed", exc_info=True)


def resource_for(settings: FleetSettings) -> Resource:
    """OTel resource naming this instance."""
    return Resource.create({"service.name": settings.service, "service.version": settings.version,
                            "service.instance.id": settings.instance_id, "service.namespace": "fleet"})


def configure_sdk(settings: FleetSettings) -> Telemetry:
    """Install the tracer and logger providers for this process (telemetry on) and return their handles."""
    telemetry = Telemetry()
    if not settings.telemetry:
        return telemetry
    resource = resource_for(settings)
    tracer_provider = TracerProvider(resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    if settings.otlp_endpoint:
        tracer_provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S),
            schedule_delay_millis=1000))
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{settings.otlp_endpoint}/v1/logs", timeout=EXPORT_TIMEOUT_S),
            schedule_delay_millis=1000))
    trace.set_tracer_provider(tracer_provider)
    set_logger_provider(logger_provider)
    telemetry.shutdowns += [tracer_provider.shutdown, logger_provider.shutdown]
    return telemetry
