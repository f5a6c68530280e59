"""Fleet routes: services with their versions and instances, deploy/scale, weights, restarts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.conventions import check_if_match, etag_for
from control_plane.api.deps import ContextDep, Role, require_role
from control_plane.errors import TemporaryError
from control_plane.fleet_service import FleetService

router = APIRouter(tags=["fleet"])


class VersionPut(BaseModel):
    """Deploy or scale a version; ``faults`` replaces its faults when given."""

    model_config = ConfigDict(extra="forbid")
    replicas: int = Field(ge=0, le=16)
    faults: dict[str, float | int] | None = None


class WeightsPut(BaseModel):
    """Traffic percentage per version, summing to 100."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[str, int]


def _fleet(ctx: ContextDep) -> FleetService:
    if ctx.fleet is None:
        raise TemporaryError("the fleet runtime is not started")
    return ctx.fleet  # type: ignore[no-any-return]


@router.get("/services", dependencies=[require_role(Role.VIEWER)])
def list_services(ctx: ContextDep) -> list[dict[str, Any]]:
    return _fleet(ctx).list_services()


@router.get("/services/{name}", dependencies=[require_role(Role.VIEWER)])
def get_service(name: str, ctx: ContextDep, response: Response) -> dict[str, Any]:
    body = _fleet(ctx).get_service(name)
    response.headers["ETag"] = etag_for(body["resource_version"])
    return body


@router.put("/services/{name}/versions/{version}", dependencies=[require_role(Role.OPERATOR)])
def put_version(name: str, version: str, body: VersionPut, ctx: ContextDep, response: Response) -> dict[str, Any]:
    out = _fleet(ctx).deploy(name, version, body.replicas, body.faults)
    response.headers["ETag"] = etag_for(out["resource_version"])
    return out


@router.delete("/services/{name}/versions/{version}", dependencies=[require_role(Role.OPERATOR)])
def delete_version(name: str, version: str, ctx: ContextDep, response: Response) -> dict[str, Any]:
    out = _fleet(ctx).remove_version(name, version)
    response.headers["ETag"] = etag_for(out["resource_version"])
    return out


@router.put("/services/{name}/weights", dependencies=[require_role(Role.OPERATOR)])
def put_weights(name: str, body: WeightsPut, ctx: ContextDep, response: Response,
                if_match: str | None = Header(default=None)) -> dict[str, Any]:
    """Optimistic locking: with If-Match the change applies only to the version read (412 otherwise)."""
    fleet = _fleet(ctx)
    current = fleet.resource_version(name)
    check_if_match(if_match, etag_for(current), required=False)
    out = fleet.set_weights(name, body.weights, expected_version=current if if_match else None)
    response.headers["ETag"] = etag_for(out["resource_version"])
    return out


@router.get("/instances", dependencies=[require_role(Role.VIEWER)])
def list_instances(ctx: ContextDep) -> list[dict[str, Any]]:
    return _fleet(ctx).instances()


@router.post("/instances/{instance_id}/restart", status_code=202, dependencies=[require_role(Role.OPERATOR)])
def restart_instance(instance_id: str, ctx: ContextDep) -> dict[str, Any]:
    return _fleet(ctx).restart_instance(instance_id)
