"""The app factory every fleet service is built with.

``create_app(service_name, ...)`` gives a FastAPI app that already has: a server span per request
continuing the caller's W3C trace context, the contract's Prometheus metrics on /metrics, one JSON
access-log line per request (with trace ids), fault injection, /healthz, /readyz and
GET/PUT /_fleet/faults. The service only adds its own routers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Match

from fleet.kit.errors import error_response, install_error_handlers
from fleet.kit.faults import FaultConfig, FaultConfigError, FaultInjector
from fleet.kit.metrics import FleetMetrics
from fleet.kit.settings import FleetSettings
from fleet.kit.upstream import Upstreams

_log = logging.getLogger("fleet.access")

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CONTROL_PREFIX = "/_fleet/"  # fault control: never counted, never faulted (so a 100% error rate can be undone)
CRASH_EXIT_CODE = 70
_PROPAGATED = (b"traceparent", b"tracestate", b"baggage")


@dataclass
class ServiceKit:
    """What the kit gives a service at run time (``app.state.kit``)."""

    settings: FleetSettings
    metrics: FleetMetrics
    faults: FaultInjector
    upstreams: Upstreams
    tracer: trace.Tracer
    ready: bool = False
    # run at lifespan shutdown, in order; the entry point appends the telemetry flush here because
    # uvicorn re-raises SIGTERM after shutdown, so code after server.run() never runs
    shutdown_hooks: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    exit: Callable[[int], None] = field(default=os._exit)  # replaced in tests; os._exit makes a crash real


def _kit(request: Request) -> ServiceKit:
    kit: ServiceKit = request.app.state.kit
    return kit


async def kit_of(request: Request) -> ServiceKit:
    """The ServiceKit of the app serving ``request`` (a FastAPI dependency; async so FastAPI does not
    hand it to a worker thread, which costs more than the whole request)."""
    return _kit(request)


def create_app(service_name: str, *, settings: FleetSettings | None = None, routers: Sequence[APIRouter] = (),
               transport: httpx.AsyncBaseTransport | None = None, registry: CollectorRegistry | None = None,
               on_shutdown: Iterable[Callable[[], Awaitable[None] | None]] = (),
               tracer_provider: trace.TracerProvider | None = None) -> FastAPI:
    """Build a fleet service app with telemetry, probes and faults; ``routers`` hold the service's own routes.

    ``transport`` replaces the network for upstream calls (tests pass an ``httpx.MockTransport``);
    ``registry`` defaults to a fresh ``CollectorRegistry`` per app; ``tracer_provider`` to the global
    one (the entry point installs the SDK; tests pass a provider with an in-memory exporter).
    """
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("fleet.kit")
    settings = settings or FleetSettings(service=service_name)
    instance = settings.instance_id or f"{service_name}-{settings.version}-0"
    metrics = FleetMetrics(service_name, settings.version, instance, registry)
    kit = ServiceKit(settings=settings, metrics=metrics, faults=FaultInjector(settings.faults),
                     upstreams=Upstreams(settings.upstreams, transport=transport, tracer=tracer), tracer=tracer,
                     shutdown_hooks=list(on_shutdown))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kit.ready = True
        try:
            yield
        finally:
            kit.ready = False
            await kit.upstreams.aclose()
            for hook in kit.shutdown_hooks:
                try:
                    result = hook()
                    if result is not None:
                        await result
                except Exception:
                    logging.getLogger("fleet").exception("shutdown hook failed")

    # FastAPI's native OpenTelemetry would add a second server span (and its own metrics and log
    # handler) per request; the kit's middleware is the one source of telemetry, so switch it off.
    app = FastAPI(title=f"fleet {service_name}", version=settings.version, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    app.state.kit = kit
    install_error_handlers(app)
    all_routers = [_kit_router(), *routers]
    for router in all_routers:
        app.include_router(router)
    resolver = RouteResolver([r for router in all_routers for r in router.routes])
    app.add_middleware(TelemetryAndFaultsMiddleware, kit=kit, resolver=resolver)
    kit.ready = True  # construction opened the store; lifespan keeps the flag honest on shutdown
    return app


def _kit_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        kit = _kit(request)
        s = kit.settings
        body = {"service": s.service, "version": s.version, "instance": kit.metrics.instance}
        return JSONResponse(body, status_code=200 if kit.ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        m = _kit(request).metrics
        return Response(m.render(), media_type=m.content_type)

    @router.get("/_fleet/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        return _kit(request).faults.config.to_dict()

    @router.put("/_fleet/faults")
    async def put_faults(request: Request) -> Response:
        try:
            raw = await request.json()
        except ValueError:
            return error_response(400, "invalid_json", "body must be a JSON object", {"field": "body"})
        try:
            config = FaultConfig.from_dict(raw)
        except FaultConfigError as exc:
            return error_response(400, "invalid_faults", str(exc), {"field": exc.field})
        kit = _kit(request)
        kit.faults.configure(config)
        logging.getLogger("fleet.faults").warning("faults changed", extra={"faults": str(config.to_dict())})
        return JSONResponse(config.to_dict())

    return router


class RouteResolver:
    """Finds the route template of a request before the app runs, so injected faults and real answers
    are labelled alike (``/products/{product_id}``, never the raw path: bounded label values)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = list(routes)

    def __call__(self, scope: dict[str, Any]) -> str:
        partial = None
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "unmatched"))
            if match is Match.PARTIAL and partial is None:
                partial = route
        return str(getattr(partial, "path", "unmatched")) if partial is not None else "unmatched"


class TelemetryAndFaultsMiddleware:
    """Pure ASGI middleware: server span, metrics, access log and faults for every counted request."""

    def __init__(self, app: Any, kit: ServiceKit, resolver: RouteResolver) -> None:
        self.app = app
        self.kit = kit
        self.resolver = resolver

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PROBE_PATHS or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        kit = self.kit
        method = scope.get("method", "GET")
        route = self.resolver(scope)
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in _PROPAGATED}
        parent = propagate.extract(carrier) if carrier else None
        status = 500
        started = time.perf_counter()
        kit.metrics.started()
        decision = kit.faults.next_request()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with kit.tracer.start_as_current_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                                           record_exception=False, set_status_on_exception=False) as span:
            try:
                if decision.delay_s > 0:
                    await asyncio.sleep(decision.delay_s)
                if decision.fail:
                    status = 500
                    await _send_injected_error(send, kit.faults.config.error_rate, decision.n)
                    span.set_attribute("fleet.fault.injected", True)
                else:
                    await self.app(scope, receive, send_wrapper)
            except BaseException as exc:
                status = 500
                span.record_exception(exc)
                raise
            finally:
                elapsed = time.perf_counter() - started
                _finish_span(span, method, route, path, status)
                kit.metrics.finished(route, method, status, elapsed)
                _access_log(method, route, path, status, elapsed, decision.fail)
                if decision.crash_after_response:
                    _crash(kit, decision.n)


def _finish_span(span: trace.Span, method: str, route: str, path: str, status: int) -> None:
    try:
        span.set_attribute("http.request.method", method)
        span.set_attribute("http.route", route)
        span.set_attribute("url.path", path)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    except Exception:  # noqa: BLE001 - telemetry must never raise into the service
        _log.debug("span finishing failed", exc_info=True)


def _access_log(method: str, route: str, path: str, status: int, elapsed: float, injected: bool) -> None:
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    if not _log.isEnabledFor(level):
        return
    try:
        _log.log(level, f"{method} {path} {status}",
                 extra={"http_method": method, "http_route": route, "http_status": status,
                        "duration_ms": round(elapsed * 1000, 3), "fault_injected": injected})
    except Exception:  # noqa: BLE001, S110 - a broken log handler must not fail the request; logging again would fail too
        pass


async def _send_injected_error(send: Any, rate: float, n: int) -> None:
    resp = error_response(500, "injected_fault", f"injected error (error_rate={rate}, request #{n})",
                          {"fault": "error_rate", "request": n})
    await send({"type": "http.response.start", "status": 500, "headers": resp.raw_headers})
    await send({"type": "http.response.body", "body": resp.body})


def _crash(kit: ServiceKit, n: int) -> None:
    """Exit the whole process right after this response is on the wire: a real crash, no cleanup."""
    logging.getLogger("fleet.faults").critical("crash_after reached: exiting", extra={"requests": n})
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - we are about to exit anyway
            pass
    try:
        asyncio.get_running_loop().call_later(0.02, kit.exit, CRASH_EXIT_CODE)
    except RuntimeError:
        kit.exit(CRASH_EXIT_CODE)
