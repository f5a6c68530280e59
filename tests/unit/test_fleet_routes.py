"""The fleet, service-discovery and metrics routes in-process: roles, JSON errors, ETag/If-Match."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fleet_fakes import FakeRouter, manifest, repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fleet_service import FakeMetrics, FakeRuntime

from control_plane.api.app import create_app
from control_plane.api.context import AppContext
from control_plane.api.conventions import ApiLimits
from control_plane.api.roles import Role
from control_plane.api.security import mint_token
from control_plane.fleet_service import FleetService
from control_plane.settings import load_settings
from control_plane.store.auth_repo import TokenRepo

GENEROUS = ApiLimits(mutation_rate=1000.0, mutation_burst=10_000)


class SyncClient:
    """A synchronous face on httpx's in-process ASGI transport (no server, no port)."""

    def __init__(self, app: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                         base_url="http://127.0.0.1")

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))  # type: ignore[arg-type]

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[SyncClient, dict[str, dict[str, str]]]]:
    settings = load_settings({}, state_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'control.db'}")
    fleet_repo = repo(tmp_path)
    sessions = fleet_repo._sessions
    fleet = FleetService(settings, manifest(), fleet_repo, FakeRuntime(), FakeRouter(), FakeMetrics())
    fleet.bootstrap()
    fleet.start()
    headers: dict[str, dict[str, str]] = {}
    with sessions() as s:
        for role in (Role.VIEWER, Role.OPERATOR):
            new = mint_token()
            TokenRepo(s).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="api", name=role.label,
                                owner="tests", role=role.label, expires_at=None)
            headers[role.label] = {"Authorization": f"Bearer {new.secret}"}
        s.commit()
    ctx = AppContext(settings=settings, sessions=sessions, fleet=fleet, extras={"api_limits": GENEROUS})
    client = SyncClient(create_app(ctx))
    try:
        yield client, headers
    finally:
        client.close()


def test_reads_need_a_viewer_and_writes_an_operator(api) -> None:
    client, h = api
    assert client.get("/api/v1/services").status_code == 401
    got = client.get("/api/v1/services", headers=h["viewer"])
    assert got.status_code == 200 and [s["name"] for s in got.json()] == ["frontend", "cart", "catalog"]
    assert client.put("/api/v1/services/cart/versions/v2", json={"replicas": 1}, headers=h["viewer"]).status_code == 403
    put = client.put("/api/v1/services/cart/versions/v2", json={"replicas": 1}, headers=h["operator"])
    assert put.status_code == 200 and put.headers["ETag"] == f'"{put.json()["resource_version"]}"'
    assert client.get("/api/v1/instances", headers=h["viewer"]).status_code == 200


def test_weights_with_if_match_and_clear_errors(api) -> None:
    client, h = api
    client.put("/api/v1/services/cart/versions/v2", json={"replicas": 1}, headers=h["operator"])
    etag = client.get("/api/v1/services/cart", headers=h["viewer"]).headers["ETag"]
    ok = client.put("/api/v1/services/cart/weights", json={"weights": {"v1": 90, "v2": 10}},
                    headers={**h["operator"], "If-Match": etag})
    assert ok.status_code == 200 and ok.json()["weights"] == {"v1": 90, "v2": 10}
    stale = client.put("/api/v1/services/cart/weights", json={"weights": {"v1": 50, "v2": 50}},
                       headers={**h["operator"], "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    bad = client.put("/api/v1/services/cart/weights", json={"weights": {"v1": 90, "v2": 20}}, headers=h["operator"])
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "weights"
    unknown = client.put("/api/v1/services/shop/weights", json={"weights": {"v1": 100}}, headers=h["operator"])
    assert unknown.status_code == 404 and "unknown service 'shop'" in unknown.json()["error"]["message"]
    nover = client.put("/api/v1/services/cart/weights", json={"weights": {"v9": 100}}, headers=h["operator"])
    assert nover.status_code == 404 and nover.json()["error"]["details"]["field"] == "weights.v9"
    busy = client.delete("/api/v1/services/cart/versions/v1", headers=h["operator"])
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "conflict"


def test_bad_input_never_gets_a_500(api) -> None:
    client, h = api
    for body in ({"replicas": -1}, {"replicas": 99}, {"replicas": "x"}, {"replicas": 1, "faults": {"error_rate": 3}},
                 {"replicas": 1, "faults": {"boom": 1}}, {}):
        r = client.put("/api/v1/services/cart/versions/v2", json=body, headers=h["operator"])
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = client.put("/api/v1/services/cart/versions/latest", json={"replicas": 1}, headers=h["operator"])
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "version"
    assert client.post("/api/v1/instances/nope-v1-1/restart", headers=h["operator"]).status_code == 404
    r = client.get("/api/v1/services/cart/metrics", params={"range": "soon"}, headers=h["viewer"])
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "range"


def test_service_discovery_is_open_on_loopback_and_metrics_answer(api) -> None:
    client, h = api
    sd = client.get("/api/v1/sd/prometheus")
    assert sd.status_code == 200
    assert {"job": "fleet", "service": "cart", "version": "v1", "instance": "cart-v1-1"} in [g["labels"] for g in sd.json()]
    m = client.get("/api/v1/services/cart/metrics", params={"range": "5m", "step": "15s"}, headers=h["viewer"])
    assert m.status_code == 200 and "v1" in m.json()["versions"]
    assert client.get("/api/v1/overview/metrics", headers=h["viewer"]).status_code == 200


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
SEGMENT = st.sampled_from(["cart", "v1", "v2", "nope", "v1.2-rc", "V1", "x" * 80, "%20", "-", "0"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=SEGMENT, version=SEGMENT, replicas=JSON, faults=JSON, weights=JSON)
def test_no_input_gets_a_500(api, service, version, replicas, faults, weights) -> None:  # type: ignore[no-untyped-def]
    client, h = api
    for method, path, body in (
            ("PUT", f"/api/v1/services/{service}/versions/{version}", {"replicas": replicas, "faults": faults}),
            ("PUT", f"/api/v1/services/{service}/weights", {"weights": weights}),
            ("DELETE", f"/api/v1/services/{service}/versions/{version}", None),
            ("GET", f"/api/v1/services/{service}/metrics?range={version}&step={service}", None)):
        r = client.request(method, path, json=body, headers=h["operator"])
        assert r.status_code < 500 or r.json()["error"]["code"] == "temporary_error", (method, path, body, r.text)
        if r.status_code >= 400:
            assert set(r.json()["error"]) >= {"code", "message"}
