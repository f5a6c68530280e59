"""RED metrics for charts: per version of one service, and an overview of every service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from control_plane.api.deps import ContextDep, Role, require_role
from control_plane.errors import TemporaryError

router = APIRouter(tags=["metrics"])


@router.get("/services/{name}/metrics", dependencies=[require_role(Role.VIEWER)])
def service_metrics(name: str, ctx: ContextDep, range: str = Query("15m", max_length=8),
                    step: str = Query("15s", max_length=8)) -> dict[str, Any]:
    if ctx.fleet is None:
        raise TemporaryError("the fleet runtime is not started")
    return ctx.fleet.service_metrics(name, range, step)  # type: ignore[no-any-return]


@router.get("/overview/metrics", dependencies=[require_role(Role.VIEWER)])
def overview_metrics(ctx: ContextDep, range: str = Query("10m", max_length=8),
                     step: str = Query("30s", max_length=8)) -> dict[str, Any]:
    if ctx.fleet is None:
        raise TemporaryError("the fleet runtime is not started")
    return ctx.fleet.overview_metrics(range, step)  # type: ignore[no-any-return]
