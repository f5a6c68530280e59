"""The role rule: who may call a route that declares some role, for each method."""

from __future__ import annotations

import pytest

from control_plane.api.roles import Role, role_allows

V, D, O, A = Role.VIEWER, Role.DEPLOYER, Role.OPERATOR, Role.ADMIN

# (held, required, method) -> allowed
CASES = [
    (V, V, "GET", True), (V, D, "GET", True), (V, D, "POST", False), (V, O, "GET", False),
    (V, O, "PUT", False), (V, A, "GET", False),
    (D, V, "GET", False), (D, D, "GET", True), (D, D, "POST", True), (D, O, "POST", False),
    (D, A, "GET", False),
    (O, V, "GET", True), (O, D, "POST", True), (O, O, "PUT", True), (O, A, "GET", False),
    (O, A, "POST", False),
    (A, V, "GET", True), (A, D, "POST", True), (A, O, "DELETE", True), (A, A, "POST", True),
]


@pytest.mark.parametrize(("held", "required", "method", "allowed"), CASES)
def test_role_matrix(held: Role, required: Role, method: str, allowed: bool) -> None:
    assert role_allows(held, required, method) is allowed


def test_deployer_reaches_nothing_but_rollout_routes() -> None:
    for required in Role:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            assert role_allows(D, required, method) is (required is D)


def test_only_admin_reaches_admin_routes() -> None:
    assert [r for r in Role if role_allows(r, A, "GET")] == [A]


def test_parse_names_the_choices() -> None:
    assert Role.parse(" Operator ") is O
    with pytest.raises(ValueError, match="viewer, deployer, operator, admin"):
        Role.parse("root")
