"""What each role may do, and so which controls and pages the dashboard offers.

Mirrors the role column of the API route table (docs/CONTRACTS.md). The API is the authority: it
refuses a forbidden request whatever the page shows; this only keeps unusable controls off screen.
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """Roles, each including everything the ones before it may do."""

    VIEWER = "viewer"  # reads the fleet, telemetry and metrics
    DEPLOYER = "deployer"  # also starts and steers rollouts (the CI role)
    OPERATOR = "operator"  # also scales, restarts and sets weights by hand
    ADMIN = "admin"  # also manages users and tokens and reads the audit trail


_RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class Action(str, Enum):
    """Things a page may offer to do."""

    VIEW_ROLLOUTS = "view_rollouts"
    CONTROL_ROLLOUT = "control_rollout"
    START_ROLLOUT = "start_rollout"
    SCALE = "scale"
    RESTART = "restart"
    SET_WEIGHTS = "set_weights"
    VIEW_AUDIT = "view_audit"
    MANAGE_TOKENS = "manage_tokens"


_MIN_ROLE = {
    Action.VIEW_ROLLOUTS: Role.DEPLOYER,
    Action.CONTROL_ROLLOUT: Role.DEPLOYER,
    Action.START_ROLLOUT: Role.DEPLOYER,
    Action.SCALE: Role.OPERATOR,
    Action.RESTART: Role.OPERATOR,
    Action.SET_WEIGHTS: Role.OPERATOR,
    Action.VIEW_AUDIT: Role.ADMIN,
    Action.MANAGE_TOKENS: Role.ADMIN,
}


def parse_role(value: object) -> Role | None:
    """The Role named by ``value``, or None for anything unknown (which then may do nothing)."""
    try:
        return Role(str(value).lower())
    except ValueError:
        return None


def can(role: object, action: Action) -> bool:
    """Whether ``role`` may perform ``action``; an unknown role may do nothing."""
    parsed = parse_role(role)
    if parsed is None:
        return False
    return _RANK[parsed] >= _RANK[_MIN_ROLE[action]]


def permissions(role: object) -> dict[str, bool]:
    """Every action's permission for ``role``, keyed by action value (what the State exposes)."""
    return {action.value: can(role, action) for action in Action}


NAV = [
    # (label, route, action needed or None)
    ("Overview", "/", None),
    ("Traces", "/traces", None),
    ("Logs", "/logs", None),
    ("Rollouts", "/rollouts", Action.VIEW_ROLLOUTS),
    ("Audit", "/audit", Action.VIEW_AUDIT),
    ("Tokens", "/tokens", Action.MANAGE_TOKENS),
]


def nav_items(role: object) -> list[dict[str, str]]:
    """The navigation links ``role`` may follow."""
    return [{"label": label, "route": route} for label, route, action in NAV
            if action is None or can(role, action)]
