"""FastAPI dependencies: the context, a store session, the caller's identity, role checks.

Routes declare the least role they need::

    @router.post("/things", dependencies=[require_role(Role.OPERATOR)])
    def create(ident: CurrentIdentity, session: SessionDep) -> ...

``require_role`` authenticates the bearer token (401 if missing, malformed, unknown, expired or
revoked), checks the role against the HTTP method (403, see roles.role_allows), applies the
per-identity rate limit on mutations (429) and leaves the identity on ``request.state.identity``
for the audit trail. ``CurrentIdentity`` gives it to a route; used alone it admits any role.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from control_plane.api.context import AppContext
from control_plane.api.errors import Forbidden, RateLimited
from control_plane.api.identity import Identity, RefusedCaller, authenticate
from control_plane.api.roles import SAFE_METHODS, Role, role_allows

__all__ = [
    "ContextDep",
    "CurrentIdentity",
    "Identity",
    "Role",
    "SessionDep",
    "current_identity",
    "get_context",
    "get_session",
    "is_loopback",
    "require_role",
    "sd_access",
]


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(request: Request) -> Iterator[Session]:
    """One control-store session per request (shared by every dependency of that request)."""
    with get_context(request).sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _identify(request: Request, session: Session) -> Identity:
    cached = getattr(request.state, "identity", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    refused = RefusedCaller()
    request.state.refused_caller = refused
    ident = authenticate(session, request.headers.get("authorization"), refused)
    request.state.identity = ident
    return ident


def _rate_limit(request: Request, ident: Identity) -> None:
    limiter = getattr(request.app.state, "mutation_limiter", None)
    if limiter is None or request.method in SAFE_METHODS or getattr(request.state, "rate_checked", False):
        return
    request.state.rate_checked = True
    wait = limiter.acquire(ident.rate_key)
    if wait > 0:
        raise RateLimited(f"too many changes from {ident.kind} {ident.name!r}; retry in {wait:.1f}s",
                          retry_after=wait, details={"retry_after_s": round(wait, 3)})


def require_role(role: Role):  # type: ignore[no-untyped-def]
    """Dependency admitting callers whose role allows ``role`` for this request's method."""

    def _check(request: Request, session: SessionDep) -> Identity:
        ident = _identify(request, session)
        if not role_allows(ident.role, role, request.method):
            raise Forbidden(f"{ident.kind} {ident.name!r} has role {ident.role.label}; "
                            f"{request.method} {request.url.path} needs {role.label}",
                            details={"role": ident.role.label, "required": role.label})
        _rate_limit(request, ident)
        return ident

    _check.required_role = role  # type: ignore[attr-defined]
    return Depends(_check)


def current_identity(request: Request, session: SessionDep) -> Identity:
    """The authenticated caller, whatever its role (for /auth/me and logout)."""
    ident = _identify(request, session)
    _rate_limit(request, ident)
    return ident


current_identity.any_role = True  # type: ignore[attr-defined]

CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sd_access(request: Request, session: SessionDep) -> None:
    """Prometheus service discovery: open when the API listens on loopback only, else a viewer token."""
    if is_loopback(get_context(request).settings.host):
        return
    ident = _identify(request, session)
    if not role_allows(ident.role, Role.VIEWER, request.method):
        raise Forbidden(f"{ident.kind} {ident.name!r} may not read service discovery (needs viewer)")


sd_access.public_when_loopback = True  # type: ignore[attr-defined]
