"""``GET /health``: is the control plane up, and can it reach Prometheus and the collectors."""

from __future__ import annotations

from typing import Literal

import anyio
import httpx
from fastapi import APIRouter
from pydantic import BaseModel

from control_plane.api.deps import ContextDep
from control_plane.api.routes.telemetry import collectors_client

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"]
    prometheus: Literal["up", "down"]
    collectors: Literal["up", "down"]


@router.get("/health", response_model=HealthOut)
async def health(ctx: ContextDep) -> HealthOut:
    """Public liveness plus the reachability of the two stores the API reads from."""
    prometheus = "down"
    if ctx.metrics is not None:
        try:
            with anyio.fail_after(2):
                up = await anyio.to_thread.run_sync(ctx.metrics.healthy, abandon_on_cancel=True)
            prometheus = "up" if up else "down"
        except Exception:  # unreachable or slow is "down", never a failed health check
            prometheus = "down"
    collectors = "down"
    if ctx.collectors_url:
        try:
            async with collectors_client(ctx, timeout=2.0) as client:
                resp = await client.get("/api/services")
            collectors = "up" if resp.status_code < 500 else "down"
        except httpx.HTTPError:
            collectors = "down"
    return HealthOut(status="ok", prometheus=prometheus, collectors=collectors)  # type: ignore[arg-type]
