"""Build the FastAPI application: one router per resource under /api/v1.

Layers, outermost first: RequestTelemetry (span + metrics) → FrontDoor (size limit, idempotency,
audit, last-resort 500) → FastAPI (error handlers, role dependencies, routes). ``/metrics`` is
served at the root for Prometheus.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from control_plane.api.context import AppContext
from control_plane.api.conventions import RateLimiter
from control_plane.api.errors import install_error_handlers
from control_plane.api.frontdoor import FrontDoor, limits_of
from control_plane.api.openapi import install_openapi
from control_plane.observability import ApiMetrics, RequestTelemetry

# The front door's own route modules (auth, users, tokens, audit, health, telemetry proxy).
FRONT_DOOR_MODULES: list[str] = ["health", "auth", "users", "tokens", "audit", "telemetry"]

# Route modules in control_plane/api/routes, each exposing `router`. Add yours here.
ROUTE_MODULES: list[str] = ["fleet", "sd", "metrics", "rollouts"]


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="Fleetdeck control plane", version="0.1.0", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None)
    app.state.ctx = ctx
    limits = limits_of(ctx)
    app.state.mutation_limiter = RateLimiter(limits.mutation_rate, limits.mutation_burst)
    install_error_handlers(app)
    for name in FRONT_DOOR_MODULES + [m for m in ROUTE_MODULES if m not in FRONT_DOOR_MODULES]:
        module = importlib.import_module(f"control_plane.api.routes.{name}")
        app.include_router(module.router, prefix="/api/v1")
    metrics = ctx.extras.get("api_metrics") or ApiMetrics()
    app.state.api_metrics = metrics
    app.add_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    install_openapi(app)
    app.add_middleware(FrontDoor, ctx=ctx)
    app.add_middleware(RequestTelemetry, metrics=metrics, tracer_provider=ctx.extras.get("tracer_provider"))
    return app
