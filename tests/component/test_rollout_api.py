"""Rollout routes and the CLI's --wait against a real API server (uvicorn, migrated SQLite store),
with the controller on fakes of our own interfaces stepped by the test (no fleet, no Prometheus)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import httpx
import pytest
from test_api_support import running_api

from control_plane.api.roles import Role
from control_plane.cli.rollout_cmds import wait
from control_plane.client import ApiClient
from control_plane.rollouts.controller import RolloutController
from control_plane.store.db import make_sessionmaker
from control_plane.store.rollout_repo import RolloutRepo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_rollout_controller import FAST, Clock, FakeHooks, FakePrometheus, FakeTarget

pytestmark = pytest.mark.component


@pytest.fixture
def served():
    clock = Clock()
    target = FakeTarget()
    prom = FakePrometheus(target, clock, canary_error_every=20)
    holder: dict = {}
    with running_api("sqlite") as api:
        ctl = RolloutController(RolloutRepo(make_sessionmaker(api.store.engine)), target, prom, FakeHooks(),
                                clock=clock)
        api.app.state.ctx.rollouts = ctl
        holder.update(api=api, ctl=ctl, clock=clock, prom=prom, target=target)
        yield holder


def advance(h, seconds: float) -> None:
    end = h["clock"].now + seconds
    while h["clock"].now < end:
        h["clock"].now += 2.0
        h["prom"].run(2.0)
        h["ctl"].step()


def test_create_is_idempotent_and_a_second_rollout_is_refused_with_the_first_id(served):
    api = served["api"]
    with api.client(Role.DEPLOYER) as c:
        first = c.post("/rollouts", json={"service": "cart", "version": "v2"}, headers={"Idempotency-Key": "job-1"})
        again = c.post("/rollouts", json={"service": "cart", "version": "v2"}, headers={"Idempotency-Key": "job-1"})
        assert first.status_code == 201 and again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        other = c.post("/rollouts", json={"service": "cart", "version": "v3"}, headers={"Idempotency-Key": "job-2"})
        assert other.status_code == 409
        assert other.json()["error"]["details"]["rollout_id"] == first.json()["id"]
        bad = c.post("/rollouts", json={"service": "cart", "version": "v2", "steps": [{"setWeight": 0}]})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "steps[0].setWeight"
        # A deployer drives rollouts but cannot move fleet weights directly.
        assert c.put("/services/cart/weights", json={"weights": {"v1": 100}}).status_code == 403
    with api.client(Role.VIEWER) as v:
        assert v.get(f"/rollouts/{first.json()['id']}").status_code == 200
        assert v.post(f"/rollouts/{first.json()['id']}/abort", json={}).status_code == 403


def test_bad_canary_history_explains_the_rollback_and_the_cli_exits_non_zero(served):
    api = served["api"]
    with api.client(Role.DEPLOYER) as c:
        rid = c.post("/rollouts", json={"service": "cart", "version": "v2"}).json()["id"]
    advance(served, 30)
    with api.client(Role.DEPLOYER) as c:
        body = c.get(f"/rollouts/{rid}").json()
    assert body["phase"] == "rolled_back"
    assert any(e["reason"].startswith("analysis failed: error_ratio failed") for e in body["history"])
    lines: list[str] = []
    client = ApiClient(api.url, api.store.tokens[Role.DEPLOYER])
    try:
        code = wait(client, rid, timeout_s=5, out=lines.append, sleep=lambda s: None)
    finally:
        client.close()
    assert code == 1
    text = "\n".join(lines)
    assert "rolled_back" in text and "error_ratio: fail" in text and "query: sum by (version)" in text


def test_two_promotes_naming_the_same_step_move_one_step_and_events_stream_to_the_end(served):
    api = served["api"]
    served["prom"].every = 0  # a healthy canary this time
    with api.client(Role.DEPLOYER) as c:
        rid = c.post("/rollouts", json={"service": "cart", "version": "v2", "steps": FAST}).json()["id"]
    advance(served, 4)
    with api.client(Role.DEPLOYER) as c:
        step = c.get(f"/rollouts/{rid}").json()["step"]["index"]
        results: list[int] = []

        def promote() -> None:
            with api.client(Role.DEPLOYER) as cc:
                results.append(cc.post(f"/rollouts/{rid}/promote", json={"step": step}).status_code)

        threads = [threading.Thread(target=promote) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200, 409]
        assert c.get(f"/rollouts/{rid}").json()["step"]["index"] == step + 2
        assert c.post(f"/rollouts/{rid}/abort", json={"reason": "enough"}).status_code == 200
        with httpx.Client(base_url=api.url + "/api/v1", headers=c.headers, timeout=30) as s, \
                s.stream("GET", f"/rollouts/{rid}/events") as resp:
            text = "".join(resp.iter_text())
    assert "event: transition" in text and "aborted by token:deployer-fixture: enough" in text
    assert text.rstrip().endswith("event: end\ndata: {}")
    audit = api.audit(actor=None)
    assert any("/rollouts/" in (a.get("path") or "") and "abort" in (a.get("path") or "") for a in audit)
