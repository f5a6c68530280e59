"""OTLP/HTTP receiver: ``POST /v1/traces`` and ``POST /v1/logs`` as the OTLP specification defines them.

Success is 200 with an export response (partial success when items were rejected); 400 malformed,
413 too large, 415 unsupported media type or encoding, 429 + Retry-After when the ingest queue is
full, 503 + Retry-After while the collector is stopping. Error bodies are google.rpc.Status in the
request's encoding. A 200 means the items are queued for the single writer, which commits them
before the process exits (SIGTERM drains the queue).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from collectors.config import CollectorConfig
from collectors.otlp import convert, decode
from collectors.otlp.errors import DecodeError, PayloadTooLarge
from collectors.otlp.responses import logs_response, status_body, traces_response
from collectors.store.writer import LOGS, SPANS, IngestQueue, QueueClosed
from collectors.telemetry import SelfMetrics

log = logging.getLogger("collectors.receiver")


@dataclass
class ReceiverDeps:
    """What the receiver needs: limits, the queue and the metrics."""

    config: CollectorConfig
    queue: IngestQueue
    metrics: SelfMetrics


def _pipeline(signal: str) -> tuple[Callable[[bytes, decode.Encoding], Any], Callable[[Any], convert.Converted],
                                    Callable[[int, str, decode.Encoding], bytes]]:
    if signal == SPANS:
        return decode.parse_traces, convert.convert_traces, traces_response
    return decode.parse_logs, convert.convert_logs, logs_response


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _export(request: Request, signal: str) -> Response:
    deps: ReceiverDeps = request.app.state.receiver
    metrics = deps.metrics
    parse, to_rows, respond = _pipeline(signal)
    encoding = decode.Encoding.JSON  # for error bodies until the request's own encoding is known
    try:
        encoding = decode.encoding_of(request.headers.get("content-type"))
        body = await _read_body(request, deps.config.max_body_bytes)
        body = decode.decompress(body, request.headers.get("content-encoding"), deps.config.max_decompressed_bytes)
        converted = to_rows(parse(body, encoding))
    except DecodeError as exc:
        metrics.rejected.labels(signal, "request").inc()
        return _error(exc.status, exc.message, encoding)
    rows = converted.rows
    if rows:
        try:
            queued = deps.queue.offer(signal, rows)
        except QueueClosed:
            metrics.refused.labels(signal, "stopping").inc()
            return _error(503, "collector is shutting down; retry against the restarted collector", encoding,
                          retry_after=deps.config.retry_after_s)
        if not queued:
            metrics.refused.labels(signal, "queue_full").inc()
            return _error(429, f"ingest queue is full ({deps.queue.depth} items pending); retry later", encoding,
                          retry_after=deps.config.retry_after_s)
        metrics.accepted.labels(signal).inc(len(rows))
        metrics.queue_depth.set(deps.queue.depth)
    if converted.rejected:
        metrics.rejected.labels(signal, "invalid_item").inc(converted.rejected)
    return Response(respond(converted.rejected, converted.reason, encoding), status_code=200,
                    media_type=encoding.value)


def _error(status: int, message: str, encoding: decode.Encoding, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(status_body(status, message, encoding), status_code=status, media_type=encoding.value,
                    headers=headers)


def build_router() -> APIRouter:
    """Routes of the OTLP/HTTP receiver."""
    router = APIRouter()

    @router.post("/v1/traces", include_in_schema=False)
    async def export_traces(request: Request) -> Response:
        return await _export(request, SPANS)

    @router.post("/v1/logs", include_in_schema=False)
    async def export_logs(request: Request) -> Response:
        return await _export(request, LOGS)

    return router
