"""The collectors' query API (docs/CONTRACTS.md), called by the control plane only.

``GET /api/traces/{trace_id}``, ``GET /api/traces``, ``GET /api/service-graph``, ``GET /api/services``,
``GET /api/services/{service}/operations``, ``GET /api/logs``, ``GET /api/logs/tail`` (SSE).
Errors are ``{"error": {"code", "message", "details"}}``; bad input is a 400, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from collectors.query.timefmt import BadTime, parse_time
from collectors.store.queries import (
    BadQuery,
    LogFilter,
    TelemetryQueries,
    TraceFilter,
    TraceNotFound,
    parse_attr,
)

DEFAULT_WINDOW_NS = 15 * 60 * 1_000_000_000
Attrs = Annotated[list[str], Query(description="key=value, repeatable")]


def _time(raw: str | None, field_name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except BadTime as exc:
        raise BadQuery(field_name, str(exc)) from exc


def _window(start: str | None, end: str | None) -> tuple[int, int]:
    end_ns = _time(end, "end") or time.time_ns()
    start_ns = _time(start, "start")
    if start_ns is None:
        start_ns = end_ns - DEFAULT_WINDOW_NS
    if start_ns > end_ns:
        raise BadQuery("start", "start is after end")
    return start_ns, end_ns


def _queries(request: Request) -> TelemetryQueries:
    return request.app.state.queries  # type: ignore[no-any-return]


def _log_filter(start: str | None, end: str | None, service: list[str], severity: str | None, q: str | None,
                attr: list[str], trace_id: str | None, span_id: str | None, limit: int,
                cursor: str | None) -> LogFilter:
    services = [s for raw in service for s in raw.split(",") if s]
    return LogFilter(start_ns=_time(start, "start"), end_ns=_time(end, "end"), services=services,
                     severity=severity, q=q or None, attrs=[parse_attr(a) for a in attr], trace_id=trace_id or None,
                     span_id=span_id or None, limit=limit, cursor=cursor)


def build_query_router() -> APIRouter:
    """Routes of the query API."""
    router = APIRouter(prefix="/api")

    @router.get("/traces/{trace_id}")
    def get_trace(request: Request, trace_id: str) -> dict[str, Any]:
        """One trace as a tree with self times and the critical path."""
        return _queries(request).trace(trace_id)

    @router.get("/traces/{trace_id}/logs")
    def get_trace_logs(request: Request, trace_id: str, limit: int = 1000) -> dict[str, Any]:
        """The log records of one trace, newest first (same as /api/logs?trace_id=...)."""
        return _queries(request).search_logs(LogFilter(trace_id=trace_id, limit=limit))

    @router.get("/traces")
    def search_traces(
        request: Request, service: str | None = None, operation: str | None = None, status: str | None = None,
        min_duration_ms: float | None = None, max_duration_ms: float | None = None,
        start: str | None = None, end: str | None = None, attr: Attrs = [],  # noqa: B006 - FastAPI copies it
        limit: int = 20, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Traces by service, operation, status, duration, time and attributes; newest first."""
        return _queries(request).search_traces(TraceFilter(
            service=service, operation=operation, status=status, min_duration_ms=min_duration_ms,
            max_duration_ms=max_duration_ms, start_ns=_time(start, "start"), end_ns=_time(end, "end"),
            attrs=[parse_attr(a) for a in attr], limit=limit, cursor=cursor))

    @router.get("/service-graph")
    def service_graph(request: Request, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """Caller → callee edges with request and error counts and latency quantiles (default: last 15 min)."""
        return _queries(request).service_graph(*_window(start, end))

    @router.get("/services")
    def services(request: Request) -> dict[str, Any]:
        """Services seen in spans or logs, with their versions."""
        return _queries(request).services()

    @router.get("/services/{service}/operations")
    def operations(request: Request, service: str, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """RED figures per operation of one service (default: last 15 min)."""
        return _queries(request).operations(service, *_window(start, end))

    @router.get("/logs")
    def search_logs(
        request: Request, start: str | None = None, end: str | None = None, service: Attrs = [],  # noqa: B006
        severity: str | None = None, q: str | None = None, attr: Attrs = [],  # noqa: B006
        trace_id: str | None = None, span_id: str | None = None, limit: int = 100, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Log records by time, services, minimum severity, text, attributes and trace; newest first."""
        return _queries(request).search_logs(
            _log_filter(start, end, service, severity, q, attr, trace_id, span_id, limit, cursor))

    @router.get("/logs/tail")
    async def tail_logs(
        request: Request, service: Attrs = [], severity: str | None = None, q: str | None = None,  # noqa: B006
        attr: Attrs = [], trace_id: str | None = None, span_id: str | None = None,  # noqa: B006
    ) -> StreamingResponse:
        """Server-sent events: one ``log`` event per new record matching the filters (resumable by Last-Event-ID)."""
        queries = _queries(request)
        f = _log_filter(None, None, service, severity, q, attr, trace_id, span_id, 500, None)
        queries.log_conditions(f)  # validate before the stream starts, so bad input is a 400
        last = request.headers.get("last-event-id", "")
        after = int(last) if last.isdigit() else await asyncio.to_thread(queries.max_log_id)
        hub = request.app.state.tail
        return StreamingResponse(_tail_stream(request, queries, hub, f, after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


async def _tail_stream(request: Request, queries: TelemetryQueries, hub: Any, f: LogFilter,
                       after: int) -> AsyncIterator[str]:
    sub = hub.subscribe()
    _, event = sub
    last_beat = time.monotonic()
    try:
        yield ": tail started\n\n"
        while not hub.stopping.is_set():
            event.clear()
            items = await asyncio.to_thread(queries.logs_after, f, after)
            for item in items:
                after = item["id"]
                yield f"id: {item['id']}\nevent: log\ndata: {json.dumps(item)}\n\n"
            if len(items) == 500:
                continue  # more to catch up with
            if await request.is_disconnected():
                break
            if time.monotonic() - last_beat > 15:
                last_beat = time.monotonic()
                yield ": keep-alive\n\n"
            try:
                await asyncio.wait_for(event.wait(), timeout=1.0)
            except TimeoutError:
                pass
    finally:
        hub.unsubscribe(sub)


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Contract error bodies for the query API's failures."""

    @app.exception_handler(BadQuery)
    async def bad_query(_: Request, exc: BadQuery) -> JSONResponse:
        return _error(400, "invalid_parameter", exc.message, {"field": exc.field})

    @app.exception_handler(TraceNotFound)
    async def not_found(_: Request, exc: TraceNotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
        return _error(400, "invalid_parameter", f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}",
                      {"field": ".".join(loc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))
