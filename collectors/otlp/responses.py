"""OTLP/HTTP response bodies: export responses (with partial success) and google.rpc.Status errors.

A response is encoded the way its request was (protobuf or JSON), as the specification asks.
"""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors.otlp.decode import Encoding

# google.rpc.Code values used in Status bodies.
_GRPC_CODE = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14, 500: 13}


def _encode(message: Message, encoding: Encoding) -> bytes:
    if encoding is Encoding.JSON:
        return json_format.MessageToJson(message, indent=None).encode("utf-8")
    return message.SerializeToString()


def traces_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    """An ExportTraceServiceResponse; partial_success is set only when something was rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return _encode(response, encoding)


def logs_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    """An ExportLogsServiceResponse; partial_success is set only when something was rejected."""
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return _encode(response, encoding)


def status_body(http_status: int, message: str, encoding: Encoding) -> bytes:
    """A google.rpc.Status body for an error response."""
    return _encode(Status(code=_GRPC_CODE.get(http_status, 2), message=message), encoding)
