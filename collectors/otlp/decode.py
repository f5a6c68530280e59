"""Turn an OTLP/HTTP request body into the official ``opentelemetry-proto`` request messages.

Both encodings of the OTLP/HTTP specification are read: binary protobuf
(``application/x-protobuf``) and JSON (``application/json``, where trace and span ids are hex
strings rather than base64), optionally ``Content-Encoding: gzip``. Decompression is bounded so
that a small bomb cannot inflate past ``max_bytes``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.otlp import fastjson
from collectors.otlp.errors import MalformedPayload, PayloadTooLarge, UnsupportedMedia

try:
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is an optional accelerator
    _fast_loads = None  # type: ignore[assignment]

M = TypeVar("M", bound=Message)


class Encoding(enum.Enum):
    """The two OTLP/HTTP payload encodings; responses use the same one as the request."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def encoding_of(content_type: str | None) -> Encoding:
    """The encoding named by a Content-Type header (parameters such as charset are ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == Encoding.PROTOBUF.value:
        return Encoding.PROTOBUF
    if media == Encoding.JSON.value:
        return Encoding.JSON
    raise UnsupportedMedia(
        f"unsupported Content-Type {media or '(none)'!r}: use application/x-protobuf or application/json"
    )


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (identity or gzip), refusing output larger than ``max_bytes``."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding != "gzip":
        raise UnsupportedMedia(f"unsupported Content-Encoding {coding!r}: use gzip or none")
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise MalformedPayload(f"invalid gzip body: {exc}") from exc
        out += chunk
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body exceeds the limit of {max_bytes} bytes")
        if not inflater.eof:
            raise MalformedPayload("truncated gzip body")
        data = inflater.unused_data  # a further gzip member, as RFC 1952 allows
    return bytes(out)


def parse_traces(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """Parse an ExportTraceServiceRequest in the given encoding (400 on anything malformed)."""
    return _parse(body, encoding, ExportTraceServiceRequest, _TRACE_ID_PATHS, fastjson.traces)


def parse_logs(body: bytes, encoding: Encoding) -> ExportLogsServiceRequest:
    """Parse an ExportLogsServiceRequest in the given encoding (400 on anything malformed)."""
    return _parse(body, encoding, ExportLogsServiceRequest, _LOG_ID_PATHS, fastjson.logs)


def _load_json(body: bytes) -> Any:
    if _fast_loads is not None:
        try:
            return _fast_loads(body)
        except ValueError:
            pass  # let the standard library decide, and word the error
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedPayload(f"invalid JSON payload: {exc}") from exc


def _parse(body: bytes, encoding: Encoding, kind: Callable[[], M], id_paths: tuple[tuple[str, ...], ...],
           fast: Callable[[dict[str, Any]], M]) -> M:
    if encoding is Encoding.PROTOBUF:
        message = kind()
        try:
            message.ParseFromString(body)
        except (ProtoDecodeError, RecursionError, ValueError) as exc:
            raise MalformedPayload(f"invalid protobuf payload: {exc or 'cannot parse'}") from exc
        return message
    document = _load_json(body)
    if not isinstance(document, dict):
        raise MalformedPayload("invalid JSON payload: the top level must be an object")
    try:
        return fast(document)
    except (fastjson.Fallback, ValueError, TypeError, OverflowError, RecursionError):
        pass  # the general (slow) mapping below decides, with its own error message
    message = kind()
    for path in id_paths:
        _hex_ids_to_base64(document, path)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise MalformedPayload(f"invalid OTLP JSON payload: {exc}") from exc
    return message


# OTLP/JSON encodes these bytes fields as hex; protobuf's JSON mapping expects base64.
# Each path lists the nested list fields down to the objects holding ids (camelCase or snake_case).
_SPAN_PATH = ("resourceSpans|resource_spans", "scopeSpans|scope_spans", "spans")
_TRACE_ID_PATHS = (
    (*_SPAN_PATH, "#traceId|trace_id,spanId|span_id,parentSpanId|parent_span_id"),
    (*_SPAN_PATH, "links", "#traceId|trace_id,spanId|span_id"),
)
_LOG_ID_PATHS = (
    ("resourceLogs|resource_logs", "scopeLogs|scope_logs", "logRecords|log_records", "#traceId|trace_id,spanId|span_id"),
)


def _hex_ids_to_base64(node: Any, path: tuple[str, ...]) -> None:
    step, rest = path[0], path[1:]
    if not isinstance(node, dict):
        return  # a wrong shape: leave it for ParseDict to reject with its own message
    if step.startswith("#"):
        for names in step[1:].split(","):
            for name in names.split("|"):
                value = node.get(name)
                if isinstance(value, str) and value:
                    try:
                        node[name] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                    except ValueError as exc:
                        raise MalformedPayload(f"invalid JSON payload: {name} {value[:40]!r} is not hex") from exc
        return
    for name in step.split("|"):
        children = node.get(name)
        if isinstance(children, list):
            for child in children:
                _hex_ids_to_base64(child, rest)


def hex_id(raw: bytes) -> str:
    """The lower-case hex form of a trace or span id, as OTLP/JSON and our API write it."""
    return binascii.hexlify(raw).decode("ascii")
