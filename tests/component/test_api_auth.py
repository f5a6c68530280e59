"""Identities at the front door: token states, roles, login sessions, bootstrap, no password leaks."""

from __future__ import annotations

import logging
import os
import stat
from datetime import timedelta

import pytest
from test_api_support import Api, api, bearer, open_store  # noqa: F401  (fixture)

from control_plane.api.bootstrap import bootstrap
from control_plane.api.roles import Role
from control_plane.store.auth_models import utcnow

pytestmark = pytest.mark.component


def _refusal(api: Api, token_id: str | None, actor: str | None = None) -> dict:
    records = [r for r in api.audit(outcome="denied", actor=actor)
               if token_id is None or r["token_id"] == token_id]
    assert records, "the refusal left no audit record"
    return records[0]


def test_missing_token_is_401_and_audited(api: Api) -> None:
    with api.client() as c:
        resp = c.post("/tokens", json={"name": "x", "role": "viewer"})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in resp.json()["error"]["message"]
    rec = [r for r in api.audit(outcome="denied", actor="anonymous") if r["path"] == "/api/v1/tokens"][0]
    assert rec["status_code"] == 401 and rec["action"] == "POST /api/v1/tokens"


@pytest.mark.parametrize("header", ["Bearer fd_nothex_abc", "Basic dXNlcjpwYXNz", "Bearer", "fd_only"])
def test_malformed_credentials_are_401(api: Api, header: str) -> None:
    with api.client() as c:
        resp = c.get("/services", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.json()["error"]["message"]


def test_unknown_and_wrong_secret_are_401(api: Api) -> None:
    token_id, secret = api.store.token(Role.ADMIN, name="wrong-secret")
    forged = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    with api.client(token=forged) as c:
        resp = c.get("/auth/me")
    assert resp.status_code == 401 and resp.json()["error"]["message"] == "unknown token or wrong secret"
    rec = _refusal(api, token_id)
    assert rec["detail"] == "unknown token or wrong secret" and rec["actor"] == "anonymous"


def test_expired_token_is_401_with_when_and_audited(api: Api) -> None:
    token_id, secret = api.store.token(Role.OPERATOR, name="old-ci", expires_at=utcnow() - timedelta(minutes=1))
    with api.client(token=secret) as c:
        resp = c.put("/services/cart/weights", json={"weights": {"v1": 100}})
    assert resp.status_code == 401
    assert "token 'old-ci'" in resp.json()["error"]["message"] and "expired at" in resp.json()["error"]["message"]
    rec = _refusal(api, token_id, actor="old-ci")
    assert rec["actor_kind"] == "token" and rec["route"] == "/api/v1/services/{name}/weights"
    assert rec["target"] == "name=cart"


def test_revoked_token_is_401_and_audited(api: Api) -> None:
    with api.client(Role.ADMIN) as admin:
        created = admin.post("/tokens", json={"name": "to-revoke", "role": "deployer"}).json()
        assert admin.delete(f"/tokens/{created['id']}").status_code == 200
        again = admin.delete(f"/tokens/{created['id']}")
        assert again.status_code == 409 and "already revoked" in again.json()["error"]["message"]
    with api.client(token=created["token"]) as c:
        resp = c.get("/auth/me")
    assert resp.status_code == 401 and "was revoked at" in resp.json()["error"]["message"]
    assert _refusal(api, created["id"])["detail"].startswith("token 'to-revoke'")


def test_wrong_role_is_403_with_both_roles_and_audited(api: Api) -> None:
    _, secret = api.store.token(Role.DEPLOYER, name="ci-deployer")
    with api.client(token=secret) as c:
        resp = c.get("/services")
        me = c.get("/auth/me")
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["details"] == {"role": "deployer", "required": "viewer"}
    assert "ci-deployer" in err["message"]
    assert me.status_code == 200 and me.json()["role"] == "deployer"  # any role may ask who it is
    rec = _refusal(api, None, actor="ci-deployer")
    assert rec["status_code"] == 403 and rec["method"] == "GET" and "needs viewer" in rec["detail"]


def test_viewer_cannot_manage_tokens_or_users(api: Api) -> None:
    with api.client(Role.VIEWER) as c:
        for method, path in [("GET", "/tokens"), ("POST", "/users"), ("GET", "/audit"), ("DELETE", "/tokens/0")]:
            assert c.request(method, path, json={}).status_code == 403, (method, path)


def test_login_session_me_logout(api: Api) -> None:
    name = api.store.user(Role.OPERATOR, password="s3cret-pass-word")
    with api.client() as c:
        bad = c.post("/auth/login", json={"username": name, "password": "nope"})
        nobody = c.post("/auth/login", json={"username": "no-such-user", "password": "nope"})
        ok = c.post("/auth/login", json={"username": name, "password": "s3cret-pass-word"})
    assert bad.status_code == nobody.status_code == 401
    assert bad.json()["error"]["message"] == nobody.json()["error"]["message"] == "invalid username or password"
    body = ok.json()
    assert ok.status_code == 200 and body["user"] == {"name": name, "role": "operator"}
    with api.client(token=body["token"]) as c:
        assert c.get("/auth/me").json()["kind"] == "session"
        assert c.get("/services").status_code != 403  # operator reads
        assert c.get("/tokens").status_code == 403
        assert c.post("/auth/logout").status_code == 204
        assert c.get("/auth/me").status_code == 401
    failed = [r for r in api.audit(actor=name) if r["path"] == "/api/v1/auth/login"]
    assert [r["outcome"] for r in failed[::-1]] == ["denied", "success"]


def test_session_follows_the_users_current_role_and_disabling(api: Api) -> None:
    api.store.user(Role.ADMIN)  # another admin, so demoting this one leaves one
    name = api.store.user(Role.ADMIN, password="another-passw0rd")
    with api.client() as c:
        token = c.post("/auth/login", json={"username": name, "password": "another-passw0rd"}).json()["token"]
    with api.client(Role.ADMIN) as admin:
        etag = admin.get(f"/users/{name}").headers["etag"]
        resp = admin.patch(f"/users/{name}", json={"role": "viewer"}, headers={"If-Match": etag})
        assert resp.status_code == 200
        with api.client(token=token) as c:
            assert c.get("/tokens").status_code == 403
        resp = admin.patch(f"/users/{name}", json={"disabled": True}, headers={"If-Match": resp.headers["etag"]})
        assert resp.status_code == 200
    with api.client(token=token) as c:
        assert c.get("/auth/me").status_code == 401


def test_the_last_admin_cannot_be_demoted() -> None:
    with open_store("sqlite") as store:
        name = store.user(Role.ADMIN)
        import httpx
        from test_api_support import Server

        from control_plane.api.app import create_app

        server = Server(create_app(store.context())).start()
        try:
            with httpx.Client(base_url=server.url + "/api/v1", headers=bearer(store.tokens[Role.ADMIN])) as c:
                etag = c.get(f"/users/{name}").headers["etag"]
                resp = c.patch(f"/users/{name}", json={"role": "viewer"}, headers={"If-Match": etag})
                assert resp.status_code == 409 and "no enabled admin" in resp.json()["error"]["message"]
                assert c.get(f"/users/{name}").json()["role"] == "admin"
        finally:
            server.stop()


def test_api_tokens_do_not_log_out(api: Api) -> None:
    with api.client(Role.VIEWER) as c:
        resp = c.post("/auth/logout")
    assert resp.status_code == 409 and "DELETE /api/v1/tokens" in resp.json()["error"]["message"]


def test_password_is_never_returned_logged_or_audited(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    password = "Pa55word-that-must-not-leak"
    caplog.set_level(logging.DEBUG)
    with api.client(Role.ADMIN) as admin:
        created = admin.post("/users", json={"name": "leakcheck", "password": password, "role": "viewer",
                                             "reason": "onboarding"})
        invalid = admin.post("/users", json={"name": "Bad Name!", "password": password, "role": "viewer"})
        short = admin.post("/users", json={"name": "shorty", "password": "short", "role": "viewer"})
        listed = admin.get("/users")
    with api.client() as c:
        failed = c.post("/auth/login", json={"username": "leakcheck", "password": password + "x"})
    assert created.status_code == 201 and invalid.status_code == 422 and short.status_code == 422
    assert invalid.json()["error"]["details"]["field"] == "name"
    assert short.json()["error"]["details"]["field"] == "password"
    for resp in (created, invalid, short, listed, failed):
        assert password not in resp.text and "password_hash" not in resp.text and "short\"" not in resp.text
    assert password not in caplog.text
    audit_text = str(api.audit(target="user:leakcheck")) + str(api.audit(actor="leakcheck"))
    assert password not in audit_text and "argon2" not in audit_text


def test_bootstrap_creates_admin_once_and_writes_a_private_cli_token() -> None:
    with open_store("sqlite") as store:
        ctx = store.context()
        lines: list[str] = []
        first = bootstrap(ctx, emit=lines.append)
        assert first.admin_created and first.password_generated and first.cli_token_written
        assert len(lines) == 1 and "created admin user 'admin' with password" in lines[0]
        password = lines[0].split("with password ")[1].split(" ")[0]
        mode = stat.S_IMODE(os.stat(first.cli_token_path).st_mode)
        assert mode == 0o600
        token = first.cli_token_path.read_text().strip()
        second = bootstrap(ctx, emit=lines.append)
        assert not second.admin_created and not second.cli_token_written and len(lines) == 1
        assert first.cli_token_path.read_text().strip() == token

        import httpx
        from test_api_support import Server

        from control_plane.api.app import create_app

        server = Server(create_app(ctx)).start()
        try:
            with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as c:
                assert c.get("/auth/me", headers=bearer(token)).json()["role"] == "admin"
                login = c.post("/auth/login", json={"username": "admin", "password": password})
                assert login.status_code == 200 and login.json()["user"]["role"] == "admin"
        finally:
            server.stop()


def test_bootstrap_takes_the_configured_password() -> None:
    import dataclasses

    with open_store("sqlite") as store:
        ctx = store.context()
        ctx.settings = dataclasses.replace(ctx.settings, admin_password="configured-admin-pw")
        lines: list[str] = []
        result = bootstrap(ctx, emit=lines.append)
        assert result.admin_created and not result.password_generated
        assert "configured-admin-pw" not in " ".join(lines)
