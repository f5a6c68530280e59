"""Prometheus HTTP service discovery: every instance, HAProxy's exporter, the collectors, us."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from control_plane.api.deps import ContextDep, sd_access

router = APIRouter(tags=["service discovery"])


@router.get("/sd/prometheus", dependencies=[Depends(sd_access)])
def prometheus_sd(ctx: ContextDep) -> list[dict[str, Any]]:
    """Target groups in the http_sd format; an empty list while the fleet is not started."""
    return ctx.fleet.sd_targets() if ctx.fleet is not None else []
