"""Telemetry of the fleet, proxied to the collectors' query API (viewer role).

The collectors answer pages ``{"items": [...], "next_cursor": ...}``; we pass query strings through
unchanged (repeated ``attr=k=v`` included) and translate the collectors' failures into our errors:
unreachable or 5xx → 503 ``collectors_unavailable``, 404 → 404, other 4xx → 422 with their message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from control_plane.api.context import AppContext
from control_plane.api.deps import ContextDep, Role, require_role
from control_plane.api.errors import ServiceUnavailable, error_responses
from control_plane.errors import NotFoundError, ValidationError

router = APIRouter(tags=["telemetry"], dependencies=[require_role(Role.VIEWER)],
                   responses=error_responses(503))

TIMEOUT_S = 10.0
SSE_EVENT = {"type": "object", "required": ["data"],
             "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}}}


class Page(BaseModel):
    """One page of traces, logs or operations."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


def collectors_client(ctx: AppContext, *, timeout: float = TIMEOUT_S) -> httpx.AsyncClient:
    """A client of the collectors' query API; tests inject ``ctx.extras["collectors_transport"]``."""
    if not ctx.collectors_url:
        raise ServiceUnavailable("the collectors are not configured (no collectors URL)",
                                 details={"dependency": "collectors"})
    return httpx.AsyncClient(base_url=ctx.collectors_url, timeout=timeout,
                             transport=ctx.extras.get("collectors_transport"))


def _unavailable(ctx: AppContext, why: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"the collectors at {ctx.collectors_url} are unavailable: {why}",
                              details={"dependency": "collectors", "url": ctx.collectors_url})


def _translate(ctx: AppContext, resp: httpx.Response) -> Exception:
    try:
        err = resp.json()
        message = (err.get("error", {}).get("message") if isinstance(err.get("error"), dict)
                   else err.get("detail") or err.get("error")) or resp.text[:300]
    except ValueError:
        message = resp.text[:300]
    if resp.status_code == 404:
        return NotFoundError(str(message), details={"dependency": "collectors"})
    if resp.status_code < 500:
        return ValidationError(f"the collectors refused the query: {message}", field="query")
    return _unavailable(ctx, f"HTTP {resp.status_code}")


async def _proxy(ctx: AppContext, request: Request, path: str) -> JSONResponse:
    try:
        async with collectors_client(ctx) as client:
            resp = await client.get(path, params=httpx.QueryParams(request.url.query))
    except httpx.HTTPError as exc:
        raise _unavailable(ctx, type(exc).__name__) from exc
    if resp.status_code >= 400:
        raise _translate(ctx, resp)
    try:
        return JSONResponse(resp.json())
    except ValueError as exc:
        raise _unavailable(ctx, "the answer is not JSON") from exc


Service = Annotated[str | None, Query(max_length=128)]
Attr = Annotated[list[str] | None, Query(description="attribute filter k=v; repeatable")]
Time = Annotated[str | None, Query(max_length=64, description="RFC 3339 or unix seconds")]
Limit = Annotated[int | None, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("/traces", response_model=Page)
async def traces(ctx: ContextDep, request: Request, service: Service = None,
                 operation: Annotated[str | None, Query(max_length=256)] = None,
                 status: Literal["error", "ok"] | None = None,
                 min_duration_ms: Annotated[float | None, Query(ge=0)] = None,
                 max_duration_ms: Annotated[float | None, Query(ge=0)] = None,
                 start: Time = None, end: Time = None, attr: Attr = None, limit: Limit = None,
                 cursor: Cursor = None) -> JSONResponse:
    """Search traces."""
    return await _proxy(ctx, request, "/api/traces")


@router.get("/traces/{trace_id}", response_model=dict[str, Any], responses=error_responses(404))
async def trace(ctx: ContextDep, request: Request,
                trace_id: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{1,32}$")]) -> JSONResponse:
    """One trace with all its spans."""
    return await _proxy(ctx, request, f"/api/traces/{trace_id}")


@router.get("/logs", response_model=Page)
async def logs(ctx: ContextDep, request: Request, service: Service = None,
               severity: Annotated[str | None, Query(max_length=32)] = None,
               q: Annotated[str | None, Query(max_length=512)] = None, attr: Attr = None,
               trace_id: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{1,32}$")] = None,
               start: Time = None, end: Time = None, limit: Limit = None, cursor: Cursor = None) -> JSONResponse:
    """Search logs."""
    return await _proxy(ctx, request, "/api/logs")


@router.get("/logs/tail", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                             "description": "Server-sent events; each event's data is one log record as JSON"}})
async def logs_tail(ctx: ContextDep, request: Request, service: Service = None,
                    severity: Annotated[str | None, Query(max_length=32)] = None,
                    q: Annotated[str | None, Query(max_length=512)] = None, attr: Attr = None,
                    trace_id: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{1,32}$")] = None
                    ) -> StreamingResponse:
    """Follow new logs as server-sent events (passed through from the collectors)."""
    client = collectors_client(ctx, timeout=TIMEOUT_S)
    try:
        upstream = await client.send(client.build_request("GET", "/api/logs/tail",
                                                          params=httpx.QueryParams(request.url.query),
                                                          timeout=httpx.Timeout(TIMEOUT_S, read=None)),
                                     stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise _unavailable(ctx, type(exc).__name__) from exc
    if upstream.status_code >= 400:
        await upstream.aread()
        await upstream.aclose()
        await client.aclose()
        raise _translate(ctx, upstream)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_bytes():
                yield chunk
        except (httpx.HTTPError, httpx.StreamError):
            yield b"event: error\ndata: " + json.dumps({"message": "the collectors stream ended"}).encode() + b"\n\n"
        finally:
            await upstream.aclose()
            await client.aclose()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/service-graph", response_model=dict[str, Any])
async def service_graph(ctx: ContextDep, request: Request, start: Time = None, end: Time = None) -> JSONResponse:
    """Which service calls which, with call and error counts."""
    return await _proxy(ctx, request, "/api/service-graph")


@router.get("/telemetry/services", response_model=Any)
async def telemetry_services(ctx: ContextDep, request: Request) -> JSONResponse:
    """Services that sent telemetry."""
    return await _proxy(ctx, request, "/api/services")


@router.get("/telemetry/services/{service}/operations", response_model=Any)
async def operations(ctx: ContextDep, request: Request, service: Annotated[str, Path(max_length=128)],
                     start: Time = None, end: Time = None) -> JSONResponse:
    """Operations (span names) of one service."""
    return await _proxy(ctx, request, f"/api/services/{quote(service, safe='')}/operations")
