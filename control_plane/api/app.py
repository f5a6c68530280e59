"""Build the FastAPI application: one router per resource under /api/v1."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from control_plane.api.context import AppContext

# Route modules in control_plane/api/routes, each exposing `router`. Add yours here.
ROUTE_MODULES: list[str] = ["fleet", "sd", "metrics"]


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="Fleetdeck control plane", version="0.1.0", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None)
    app.state.ctx = ctx
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"control_plane.api.routes.{name}")
        app.include_router(module.router, prefix="/api/v1")
    return app
