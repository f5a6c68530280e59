"""The whole route table: every route declares who may call it, and the server enforces it.

Walks whatever is registered (including other areas' routes), so a new mutating route without a
role dependency fails here.
"""

from __future__ import annotations

import re

import pytest
from test_api_support import Api, api, open_store  # noqa: F401  (fixture)

from control_plane.api.app import create_app
from control_plane.api.openapi import access_of, api_routes
from control_plane.api.roles import SAFE_METHODS, Role, role_allows

pytestmark = pytest.mark.component

# Routes anyone may call, and why.
PUBLIC = {
    ("GET", "/api/v1/health"): "liveness for probes",
    ("POST", "/api/v1/auth/login"): "how a user gets a credential",
}


def _table() -> list[tuple[str, str, object]]:
    with open_store("sqlite") as store:
        app = create_app(store.context())
    return sorted((m, p, access_of(d)) for p, ms, d in api_routes(app) for m in ms if m != "HEAD")


TABLE = _table()


def test_the_table_is_not_empty() -> None:
    paths = {p for _, p, _ in TABLE}
    assert {"/api/v1/tokens", "/api/v1/users", "/api/v1/audit", "/api/v1/auth/me"} <= paths


@pytest.mark.parametrize(("method", "path", "access"), TABLE, ids=[f"{m} {p}" for m, p, _ in TABLE])
def test_every_route_declares_its_access(method: str, path: str, access) -> None:  # type: ignore[no-untyped-def]
    if (method, path) in PUBLIC:
        assert access.public
        return
    assert not access.public, f"{method} {path} declares no role: add dependencies=[require_role(Role.X)]"
    if method not in SAFE_METHODS:
        assert access.role is not None or access.any_role, f"mutating {method} {path} has no role"
        if access.any_role and access.role is None:
            assert path.startswith("/api/v1/auth/"), f"{method} {path} admits any role; declare one"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef", path)


def test_server_enforces_the_table(api: Api) -> None:
    """No token → 401; each role → 403 exactly where role_allows says no."""
    problems = []
    for method, path, access in TABLE:
        if access.public or access.sd:
            continue
        url = _concrete(path).removeprefix("/api/v1")
        kwargs = {"json": {}} if method not in SAFE_METHODS else {}
        with api.client() as anon:
            if (code := anon.request(method, url, **kwargs).status_code) != 401:
                problems.append(f"{method} {path} without a token: {code}")
        if access.role is None:
            continue
        for role in Role:
            if path.endswith("/logs/tail") and role_allows(role, access.role, method):
                continue  # a stream; admission is covered in the telemetry tests
            with api.client(role) as c:
                code = c.request(method, url, **kwargs).status_code
            allowed = role_allows(role, access.role, method)
            if allowed and code in (401, 403):
                problems.append(f"{method} {path} as {role.label}: {code}, should be admitted")
            if not allowed and code != 403:
                problems.append(f"{method} {path} as {role.label}: {code}, should be 403")
    assert not problems, "\n".join(problems)


def test_every_mutation_leaves_an_audit_record(api: Api) -> None:
    mutations = [(m, p) for m, p, a in TABLE if m not in SAFE_METHODS and not a.public]
    _, secret = api.store.token(Role.DEPLOYER, name="walker")
    with api.client(token=secret) as c:
        for method, path in mutations:
            c.request(method, _concrete(path).removeprefix("/api/v1"), json={})
    audited = {(r["method"], r["route"]) for r in api.audit(actor="walker", limit=500)}
    assert set(mutations) <= audited, set(mutations) - audited


def test_openapi_document_names_roles_and_errors(api: Api) -> None:
    with api.client() as c:
        doc = c.get("/openapi.json").json()
    op = doc["paths"]["/api/v1/tokens"]["post"]
    assert op["x-fleetdeck-role"] == "admin"
    assert {"401", "403", "409", "413", "422", "429"} <= set(op["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["paths"]["/api/v1/health"]["get"].get("security") is None
