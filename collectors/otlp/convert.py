"""Flatten OTLP request messages into store rows (tuples in ``SPAN_COLUMNS`` / ``LOG_COLUMNS`` order).

Items that the store cannot use (a span without a valid trace or span id, a log record with an id
of the wrong length) are rejected one by one and counted, so the receiver can answer with an
OTLP partial success instead of refusing the whole request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "service", "service_version",
    "instance_id", "start_ns", "end_ns", "duration_ns", "status_code", "status_message",
    "attributes", "events", "links", "resource", "scope",
)
LOG_COLUMNS = (
    "time_ns", "observed_ns", "severity_number", "severity_text", "body", "attributes",
    "service", "service_version", "instance_id", "trace_id", "span_id", "resource", "scope",
)

UNKNOWN_SERVICE = "unknown_service"
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)

try:  # orjson is several times faster on this hot path; the stdlib encoder writes the same compact form
    import orjson

    def dumps(value: Any) -> str:
        """Compact JSON text as stored (UTF-8, no spaces); attribute filters build their needles with it."""
        return orjson.dumps(value).decode("utf-8")
except ImportError:  # pragma: no cover - orjson is an optional accelerator
    _encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode

    def dumps(value: Any) -> str:
        """Compact JSON text as stored (UTF-8, no spaces); attribute filters build their needles with it."""
        return _encode(value)

_dumps = dumps

SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@dataclass
class Converted:
    """Rows ready for the store plus what was rejected and why (first reason only)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: int = 0
    reason: str = ""

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if not self.reason:
            self.reason = reason


def any_value(value: AnyValue) -> Any:
    """The plain Python value of an OTLP AnyValue (bytes become base64 text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes_dict(attrs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key-value list to a dict (a repeated key keeps its last value)."""
    out: dict[str, Any] = {}
    for kv in attrs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = v.string_value if kind == "string_value" else any_value(v)
    return out


def severity_text_of(number: int) -> str:
    """The short severity name for an OTLP severity number (1-24), '' when unset."""
    if 1 <= number <= 24:
        return SEVERITY_NAMES[(number - 1) // 4]
    return ""


def _resource_fields(attrs: dict[str, Any]) -> tuple[str, str, str, str]:
    service = attrs.get("service.name")
    return (
        str(service) if service not in (None, "") else UNKNOWN_SERVICE,
        str(attrs.get("service.version", "")),
        str(attrs.get("service.instance.id", "")),
        _dumps(attrs),
    )


def convert_traces(request: ExportTraceServiceRequest) -> Converted:
    """Span rows of an export request; spans with invalid ids are rejected and counted."""
    result = Converted()
    rows = result.rows
    append = rows.append
    for rs in request.resource_spans:
        service, version, instance, resource = _resource_fields(attributes_dict(rs.resource.attributes))
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for span in ss.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
                    result.reject("span with an invalid trace_id (must be 16 non-zero bytes)")
                    continue
                if len(span_id) != 8 or span_id == _ZERO_SPAN:
                    result.reject("span with an invalid span_id (must be 8 non-zero bytes)")
                    continue
                if parent and len(parent) != 8:
                    result.reject("span with an invalid parent_span_id (must be 8 bytes or empty)")
                    continue
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                events = span.events
                links = span.links
                status = span.status
                append((
                    trace_id.hex(), span_id.hex(), parent.hex() if parent and parent != _ZERO_SPAN else "",
                    span.name, span.kind, service, version, instance,
                    start, end, end - start if end > start else 0,
                    status.code, status.message,
                    _dumps(attributes_dict(span.attributes)) if span.attributes else "{}",
                    _dumps([
                        {"name": e.name, "time_ns": e.time_unix_nano, "attributes": attributes_dict(e.attributes)}
                        for e in events
                    ]) if events else None,
                    _dumps([
                        {"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex(),
                         "attributes": attributes_dict(ln.attributes)}
                        for ln in links
                    ]) if links else None,
                    resource, scope,
                ))
    return result


def convert_logs(request: ExportLogsServiceRequest) -> Converted:
    """Log rows of an export request; records with ids of the wrong length are rejected and counted."""
    result = Converted()
    append = result.rows.append
    for rl in request.resource_logs:
        service, version, instance, resource = _resource_fields(attributes_dict(rl.resource.attributes))
        for sl in rl.scope_logs:
            scope = sl.scope.name
            for rec in sl.log_records:
                trace_id = rec.trace_id
                span_id = rec.span_id
                if trace_id and len(trace_id) != 16:
                    result.reject("log record with a trace_id that is not 16 bytes")
                    continue
                if span_id and len(span_id) != 8:
                    result.reject("log record with a span_id that is not 8 bytes")
                    continue
                observed = rec.observed_time_unix_nano
                body = rec.body
                kind = body.WhichOneof("value")
                if kind == "string_value":
                    text = body.string_value
                elif kind is None:
                    text = ""
                else:
                    text = _dumps(any_value(body))
                number = rec.severity_number
                append((
                    rec.time_unix_nano or observed, observed, number,
                    rec.severity_text or severity_text_of(number), text,
                    _dumps(attributes_dict(rec.attributes)) if rec.attributes else "{}",
                    service, version, instance,
                    trace_id.hex() if trace_id and trace_id != _ZERO_TRACE else None,
                    span_id.hex() if span_id and span_id != _ZERO_SPAN else None,
                    resource, scope,
                ))
    return result
