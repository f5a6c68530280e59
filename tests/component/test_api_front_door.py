"""API conventions end to end: idempotency, size and rate limits, ETag/If-Match races, audit paging,
error shapes, the last-resort 500."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from test_api_support import Api, api, running_api  # noqa: F401  (fixture)

from control_plane.api.conventions import ApiLimits
from control_plane.api.roles import Role

pytestmark = pytest.mark.component


def test_idempotent_post_returns_the_first_answer_and_creates_once(api: Api) -> None:
    body = {"name": "ci-idem", "role": "deployer"}
    with api.client(Role.ADMIN) as c:
        first = c.post("/tokens", json=body, headers={"Idempotency-Key": "run-1"})
        again = c.post("/tokens", json=body, headers={"Idempotency-Key": "run-1"})
        other_body = c.post("/tokens", json={**body, "role": "viewer"}, headers={"Idempotency-Key": "run-1"})
        tokens = c.get("/tokens").json()["items"]
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert [t["id"] for t in tokens if t["name"] == "ci-idem"] == [first.json()["id"]]
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert other_body.json()["error"]["details"]["field"] == "Idempotency-Key"
    # another identity using the same key gets its own object
    _, secret = api.store.token(Role.ADMIN, name="second-admin")
    with api.client(token=secret) as c2:
        theirs = c2.post("/tokens", json=body, headers={"Idempotency-Key": "run-1"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    outcomes = [r["outcome"] for r in api.audit(action="POST /api/v1/tokens") if r["actor"] == "admin-fixture"]
    assert "replayed" in outcomes


def test_failed_idempotent_request_can_be_retried(api: Api) -> None:
    with api.client(Role.ADMIN) as c:
        bad = c.post("/users", json={"name": "dup-user", "password": "long-enough-pw", "role": "viewer"},
                     headers={"Idempotency-Key": "u-1"})
        replay = c.post("/users", json={"name": "dup-user", "password": "long-enough-pw", "role": "viewer"},
                        headers={"Idempotency-Key": "u-1"})
    assert bad.status_code == 201 and replay.status_code == 201 and replay.json() == bad.json()


def test_bad_idempotency_key_is_422(api: Api) -> None:
    with api.client(Role.ADMIN) as c:
        resp = c.post("/tokens", json={"name": "k", "role": "viewer"}, headers={"Idempotency-Key": "x" * 300})
    assert resp.status_code == 422 and resp.json()["error"]["details"]["field"] == "Idempotency-Key"


def test_oversized_body_is_413_and_audited(api: Api) -> None:
    with api.client(Role.ADMIN) as c:
        resp = c.post("/tokens", content=b'{"name":"' + b"a" * 1_100_000 + b'"}',
                      headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    assert any(r["status_code"] == 413 for r in api.audit(action="POST /api/v1/tokens"))


def test_mutations_are_rate_limited_per_identity() -> None:
    limits = ApiLimits(mutation_rate=0.01, mutation_burst=3)
    with running_api("sqlite", limits=limits) as api:
        with api.client(Role.ADMIN) as c:
            codes = [c.post("/tokens", json={"name": f"r{i}", "role": "viewer"}).status_code for i in range(4)]
            limited = c.post("/tokens", json={"name": "r9", "role": "viewer"})
            reads = [c.get("/tokens").status_code for _ in range(5)]
        with api.client(Role.OPERATOR) as other:
            other_ok = other.post("/instances/x-v1-1/restart").status_code
        trail = api.audit(actor="admin-fixture")
    assert codes[:3] == [201, 201, 201] and codes[3] == 429
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert reads == [200] * 5
    assert other_ok != 429
    assert sum(r["status_code"] == 429 for r in trail) == 2


def _race(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def test_two_writers_on_one_user_one_wins_other_gets_412_and_both_are_audited(api: Api) -> None:
    name = api.store.user(Role.VIEWER)
    _, secret_b = api.store.token(Role.ADMIN, name="admin-b")
    with api.client(Role.ADMIN) as a, api.client(token=secret_b) as b:
        etag = a.get(f"/users/{name}").headers["etag"]
        assert b.get(f"/users/{name}").headers["etag"] == etag
        results = _race(lambda: a.patch(f"/users/{name}", json={"role": "operator", "reason": "on call"},
                                        headers={"If-Match": etag}),
                        lambda: b.patch(f"/users/{name}", json={"role": "deployer", "reason": "ci"},
                                        headers={"If-Match": etag}))
        final = a.get(f"/users/{name}").json()
    codes = sorted(r.status_code for r in results)
    assert codes[0] == 200 and codes[1] in (409, 412), codes
    winner = next(r for r in results if r.status_code == 200).json()
    assert final["role"] == winner["role"] and final["version"] == 2
    loser = next(r for r in results if r.status_code != 200).json()["error"]
    assert loser["code"] in ("precondition_failed", "conflict")
    trail = api.audit(target=f"user:{name}", action="PATCH")
    assert sorted(r["actor"] for r in trail) == ["admin-b", "admin-fixture"]
    assert sorted(r["status_code"] for r in trail) == codes
    assert {r["reason"] for r in trail} == {"on call", "ci"}


def test_change_without_if_match_is_428(api: Api) -> None:
    name = api.store.user(Role.VIEWER)
    with api.client(Role.ADMIN) as c:
        resp = c.patch(f"/users/{name}", json={"role": "operator"})
        stale = c.patch(f"/users/{name}", json={"role": "operator"}, headers={"If-Match": '"99"'})
    assert resp.status_code == 428 and resp.json()["error"]["details"]["current_etag"] == '"1"'
    assert stale.status_code == 412


def test_racing_revokes_give_one_winner(api: Api) -> None:
    with api.client(Role.ADMIN) as a, api.client(Role.ADMIN) as b:
        tid = a.post("/tokens", json={"name": "race", "role": "viewer"}).json()["id"]
        results = _race(lambda: a.delete(f"/tokens/{tid}", params={}), lambda: b.delete(f"/tokens/{tid}"))
    assert sorted(r.status_code for r in results) == [200, 409]
    assert sorted(r["status_code"] for r in api.audit(target=f"token:{tid}", action="DELETE")) == [200, 409]


def test_audit_pages_with_cursors_and_filters(api: Api) -> None:
    _, secret = api.store.token(Role.ADMIN, name="pager")
    with api.client(token=secret) as c:
        for i in range(5):
            c.post("/tokens", json={"name": f"p{i}", "role": "viewer", "reason": f"because {i}"})
    seen, cursor, pages = [], None, 0
    with api.client(Role.ADMIN) as admin:
        while True:
            resp = admin.get("/audit", params={"actor": "pager", "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert resp.status_code == 200
            body = resp.json()
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        bad = admin.get("/audit", params={"cursor": "not-a-cursor"})
        since = seen[2]["at"]
        later = admin.get("/audit", params={"actor": "pager", "since": since}).json()["items"]
        none = admin.get("/audit", params={"actor": "pager", "action": "DELETE"}).json()["items"]
    assert pages == 3 and len(seen) == 5
    assert [r["reason"] for r in seen] == [f"because {i}" for i in range(4, -1, -1)]
    assert [r["id"] for r in seen] == sorted((r["id"] for r in seen), reverse=True)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "cursor"
    assert [r["id"] for r in later] == [r["id"] for r in seen[:3]]
    assert none == []


def test_audit_cannot_be_changed_through_the_api(api: Api) -> None:
    with api.client(Role.ADMIN) as c:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert c.request(method, "/audit", json={}).status_code == 405


def test_error_shapes(api: Api) -> None:
    with api.client(Role.ADMIN) as c:
        missing = c.get("/no-such-thing")
        bad_json = c.post("/tokens", content=b"{not json", headers={"Content-Type": "application/json"})
        bad_query = c.get("/audit", params={"limit": "many"})
        unknown_user = c.get("/users/nobody-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert bad_json.status_code == 422 and bad_json.json()["error"]["details"]["field"] == "body"
    assert bad_query.status_code == 422 and bad_query.json()["error"]["details"]["field"] == "limit"
    assert unknown_user.status_code == 404 and "nobody-here" in unknown_user.json()["error"]["message"]


def test_a_bug_is_a_logged_500_json_and_audited() -> None:
    with running_api("sqlite") as api:
        from fastapi import APIRouter

        from control_plane.api.deps import Role as R
        from control_plane.api.deps import require_role

        router = APIRouter()

        @router.post("/api/v1/boom", dependencies=[require_role(R.OPERATOR)])
        def boom() -> None:
            raise RuntimeError("bug")

        api.app.include_router(router)
        with api.client(Role.OPERATOR) as c:
            resp = c.post("/boom", json={"reason": "testing"})
        rec = api.audit(action="POST /api/v1/boom")[0]
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["code"] == "internal_error" and "bug" not in err["message"]
    assert rec["outcome"] == "error" and rec["reason"] == "testing" and rec["actor"] == "operator-fixture"


def test_service_discovery_is_open_on_loopback_only() -> None:
    with running_api("sqlite") as local, local.client() as c:
        assert c.get("/sd/prometheus").status_code == 200
    with running_api("sqlite", host="0.0.0.0") as exposed:
        with exposed.client() as c:
            assert c.get("/sd/prometheus").status_code == 401
        with exposed.client(Role.VIEWER) as c:
            assert c.get("/sd/prometheus").status_code == 200
        with exposed.client(Role.DEPLOYER) as c:
            assert c.get("/sd/prometheus").status_code == 403
