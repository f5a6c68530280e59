"""FastAPI dependencies: the context, the caller's identity, role checks.

STUB laid down at project start so route modules can declare their roles from day one;
the auth work (issue 4) replaces ``require_role`` with real token/session checks.
"""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import Depends, Request

from control_plane.api.context import AppContext


class Role(enum.IntEnum):
    """Roles; a higher role includes the rights of the lower ones except ``deployer``'s special scope."""

    VIEWER = 1  # read everything
    DEPLOYER = 2  # CI: create and drive rollouts, read their status, nothing else
    OPERATOR = 3  # also scale/restart/weights, promote/abort rollouts, acknowledge incidents
    ADMIN = 4  # also users and tokens


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


ContextDep = Annotated[AppContext, Depends(get_context)]


def require_role(role: Role):  # type: ignore[no-untyped-def]
    """Dependency that admits callers holding ``role`` (STUB: admits everyone until auth lands)."""

    def _check(request: Request) -> None:
        return None

    _check.required_role = role  # type: ignore[attr-defined]
    return Depends(_check)
