"""Assemble the collectors' FastAPI app: receiver, query API, live tail, /metrics, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collectors.api.receiver import ReceiverDeps, build_router
from collectors.api.tail import TailHub
from collectors.config import CollectorConfig
from collectors.store.engine import Store, open_store
from collectors.store.writer import IngestQueue, Writer
from collectors.telemetry import SelfMetrics

log = logging.getLogger("collectors")


def create_app(config: CollectorConfig, store: Store | None = None, announce: bool = False) -> FastAPI:
    """The app; its lifespan opens the store (unless given), runs the writer, and drains it on stop."""
    metrics = SelfMetrics()
    queue = IngestQueue(config.queue_capacity)
    metrics.queue_capacity.set(config.queue_capacity)
    hub = TailHub()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or await asyncio.to_thread(open_store, config.store_url, config.db_schema)
        writer = Writer(opened, queue, metrics, config.retention, config.batch_items, on_logs=hub.publish)
        writer.start()
        state["store"] = opened
        app.state.store = opened
        from collectors.store.queries import TelemetryQueries

        app.state.queries = TelemetryQueries(opened)
        if announce:
            print(f"collectors listening on http://{config.host}:{config.port}", flush=True)
        try:
            yield
        finally:
            # Uvicorn has stopped taking requests and finished the ones in flight: close the queue,
            # let the writer commit everything that was acknowledged, then release the store.
            queue.close()
            await asyncio.to_thread(writer.join)
            if store is None:
                opened.dispose()
            log.info("collectors stopped; queue drained")

    app = FastAPI(title="Fleetdeck collectors", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.receiver = ReceiverDeps(config, queue, metrics)
    app.state.metrics = metrics
    app.state.tail = hub
    app.state.config = config
    app.include_router(build_router())

    from collectors.api.query_routes import build_query_router, install_error_handlers

    app.include_router(build_query_router())
    install_error_handlers(app)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        metrics.queue_depth.set(queue.depth)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "queue_depth": queue.depth, "queue_capacity": queue.capacity})

    return app
