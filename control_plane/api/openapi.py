"""The served OpenAPI document, made accurate about what the front door adds to every route.

FastAPI knows the routes' own parameters and bodies; it does not know that the front door answers
401/403 on protected routes, 413/429 on mutations, replays POSTs by ``Idempotency-Key``, or that
errors use our JSON shape. This fills that in, and names each operation's role in ``x-fleetdeck-role``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from control_plane.api.errors import ERROR_SCHEMA, error_responses
from control_plane.api.frontdoor import NO_IDEMPOTENCY
from control_plane.api.roles import SAFE_METHODS, Role


@dataclass(frozen=True)
class Access:
    """What a route asks of its caller."""

    role: Role | None  # least role declared with require_role
    any_role: bool  # needs a valid credential of any role (CurrentIdentity)
    sd: bool  # Prometheus SD: open on loopback, else viewer

    @property
    def public(self) -> bool:
        return self.role is None and not self.any_role and not self.sd


def _calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], Any]]:
    """(full path template, methods, dependant) of every API route, included routers flattened."""
    for rc in iter_route_contexts(app.routes):
        if isinstance(rc.original_route, APIRoute):
            yield str(rc.path_format or rc.path), set(rc.methods or ()), rc.dependant


def access_of(dependant: Any) -> Access:
    """The access rule of a route, read from its dependency tree."""
    calls = list(_calls(dependant))
    roles = [c.required_role for c in calls if hasattr(c, "required_role")]
    return Access(role=max(roles) if roles else None,
                  any_role=any(getattr(c, "any_role", False) for c in calls),
                  sd=any(getattr(c, "public_when_loopback", False) for c in calls))


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description="Fleetdeck control-plane API. Send `Authorization: Bearer <token>`.")
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        routes = {(path, m.lower()): dep for path, methods, dep in api_routes(app) for m in methods}
        for path, ops in schema.get("paths", {}).items():
            for method, op in ops.items():
                dependant = routes.get((path, method))
                if dependant is not None:
                    _complete(path, method.upper(), op, access_of(dependant))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(path: str, method: str, op: dict[str, Any], access: Access) -> None:
    extra: list[int] = [422]
    if not access.public:
        extra += [401, 503]  # 503: a dependency (fleet runtime, collectors, Prometheus) is not available
        op["security"] = [{"bearer": []}]
        if access.sd:
            op["security"].append({})
    if access.role is not None or access.sd:
        extra.append(403)
        if access.role is not None:
            op["x-fleetdeck-role"] = access.role.label
    if method not in SAFE_METHODS:
        extra += [413, 429]
    if "{" in path:
        extra.append(404)
    if method == "POST" and path not in NO_IDEMPOTENCY:
        extra.append(409)
        params = op.setdefault("parameters", [])
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "retrying with the same key and body returns the first answer",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                  "pattern": "^[\\x21-\\x7e]+$"}})
    responses = op.setdefault("responses", {})
    for status, spec in error_responses(*extra).items():
        if str(status) == "422" or str(status) not in responses:
            responses[str(status)] = spec
