"""Roles and the one rule that decides what each may do (pure: no framework imports).

    viewer    read everything
    deployer  CI: create and drive rollouts and read their status, nothing else
    operator  viewer + deployer + scale/restart/weights, acknowledge incidents
    admin     everything, including users and tokens

A route declares the *least* role it needs (``require_role(Role.X)``); :func:`role_allows`
says whether a caller holding some role gets in. Deployer is not "more than viewer": it only
reaches routes that declare ``Role.DEPLOYER``. Viewers read those routes too (``GET``), since a
viewer reads everything, but never drive them.
"""

from __future__ import annotations

import enum

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(enum.IntEnum):
    """Roles; see the module docstring for what each may do."""

    VIEWER = 1  # read everything
    DEPLOYER = 2  # CI: create and drive rollouts, read their status, nothing else
    OPERATOR = 3  # also scale/restart/weights, promote/abort rollouts, acknowledge incidents
    ADMIN = 4  # also users and tokens

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role named ``name`` (case-insensitive); ValueError naming the choices otherwise."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r} (one of: {', '.join(r.label for r in cls)})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


def role_allows(held: Role, required: Role, method: str = "GET") -> bool:
    """Whether a caller holding ``held`` may call a route that declares ``required`` with ``method``."""
    if held is Role.ADMIN:
        return True
    if required is Role.ADMIN:
        return False
    if held is Role.OPERATOR:
        return True  # operator covers viewer, deployer and operator routes
    if held is Role.DEPLOYER:
        return required is Role.DEPLOYER
    # viewer: read everything, including the rollout routes' reads, change nothing
    if required is Role.VIEWER:
        return True
    return required is Role.DEPLOYER and method.upper() in SAFE_METHODS
