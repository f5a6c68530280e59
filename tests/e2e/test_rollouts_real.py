"""Issue 5's "what done means", on the real local stack: real HAProxy, real Prometheus (2 s scrapes),
real fleet processes and the load generator (14 journeys/s, nominally ~100 requests/s at the edge).

One stack for the whole module (the machine is small); every test rolls ``cart`` from whatever
version is stable now to a fresh version, driven through the API with a real ``deployer`` token.
The tests run in file order and each leaves ``cart`` with no active rollout.

Faults are set on the canary version before the rollout starts it: ``PUT /services/cart/versions/vN``
with ``replicas: 0`` and the faults (the rollout spec has no faults field; the version's desired state does).

"Prometheus stopped" is SIGSTOP of the Prometheus process (the daemon does not restart a dead
Prometheus, so a kill could not "come back"); SIGCONT brings it back with its data.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane import procs
from tests.e2e.realstack import RealStack, history_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SERVICE = "cart"
_versions = iter(range(2, 1000))


def next_version(stack: RealStack) -> str:
    known = {v["version"] for v in stack.service(SERVICE)["versions"]}
    while True:
        v = f"v{next(_versions)}"
        if v not in known:
            return v


def stable_of(stack: RealStack) -> str:
    return max(stack.service(SERVICE)["versions"], key=lambda v: v["weight"])["version"]


def verdicts(ro: dict[str, Any]) -> list[dict[str, Any]]:
    return [h["data"]["verdict"] for h in ro["history"] if (h.get("data") or {}).get("verdict")]


def short_spec(version: str, **analysis: Any) -> dict[str, Any]:
    return {"service": SERVICE, "version": version,
            "steps": [{"setWeight": 20}, {"analysis": {"duration": "8s"}},
                      {"setWeight": 50}, {"analysis": {"duration": "8s"}}],
            "analysis": {"min_canary_requests": 15, "interval": "1s", **analysis}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    s = RealStack(tmp_path_factory.mktemp("rollouts"), loadgen_rate=14, scrape_interval_s=2)
    try:
        s.up()
        s.wait_ready()
        yield s
    finally:
        left = s.down()
        if left:
            print(f"had to SIGKILL {left} after fleetdeck down")


@pytest.fixture(scope="module")
def deployer(stack: RealStack) -> Iterator[httpx.Client]:
    c = stack.client(stack.make_token("ci-e2e", "deployer"))
    yield c
    c.close()


@pytest.fixture(autouse=True)
def no_active_rollout(stack: RealStack) -> Iterator[None]:
    """A test that failed half-way must not block the next one: abort what is still active."""
    yield
    active = stack.service(SERVICE).get("active_rollout")
    if active:
        stack.admin.post(f"/api/v1/rollouts/{active['id']}/abort", json={"reason": "test clean-up"})
        stack.wait_rollout(active["id"], {"rolled_back", "failed"}, timeout=60)


def only_version_serving(stack: RealStack, version: str) -> None:
    """HAProxy (the data plane) and the instances agree: ``version`` alone serves cart."""
    deadline = time.monotonic() + 20
    while True:
        weights = stack.haproxy_weights(SERVICE)
        insts = [i for i in stack.instances() if i["service"] == SERVICE]
        live = {k.split("__")[0] for k, w in weights.items() if w > 0}
        if live == {version} and {i["version"] for i in insts} == {version}:
            break
        assert time.monotonic() < deadline, (weights, insts)
        time.sleep(0.5)
    svc = stack.service(SERVICE)
    assert {v["version"]: v["weight"] for v in svc["versions"] if v["weight"]} == {version: 100}


# --- (a) a healthy canary is promoted through every step ------------------------------------------
def test_healthy_canary_promotes_through_all_steps(stack: RealStack, deployer: httpx.Client) -> None:
    stable, canary = stable_of(stack), next_version(stack)
    ro = stack.start_rollout(deployer, short_spec(canary), key=f"e2e-{canary}")
    again = deployer.post("/api/v1/rollouts", json=short_spec(canary), headers={"Idempotency-Key": f"e2e-{canary}"})
    assert again.status_code == 201 and again.json()["id"] == ro["id"], again.text  # CI retried: same rollout
    seen_weights: set[int] = set()
    done = stack.wait_rollout(ro["id"], lambda r: seen_weights.add(r["canary_weight"]) or r["phase"] in
                              {"promoted", "rolled_back", "failed"}, timeout=110)
    assert done["phase"] == "promoted", history_text(done)
    text = history_text(done)
    for fragment in (f"{stable} -> {canary}", "canary weight 20%", "step 2 passed", "canary weight 50%",
                     "step 4 passed", f"promoting {canary}", f"promoted: {canary} serves all traffic"):
        assert fragment in text, text
    passes = [v for v in verdicts(done) if v["outcome"] == "pass"]
    assert len(passes) == 2 and all(v["step_canary_requests"] >= 15 for v in passes), passes
    only_version_serving(stack, canary)


# --- (f) roles, conditional controls, audit ------------------------------------------------------------
def test_two_promotes_at_once_move_one_step_deployer_limits_and_audit(stack: RealStack,
                                                                      deployer: httpx.Client) -> None:
    for method, path, body in (("GET", "/api/v1/users", None), ("POST", "/api/v1/users",
                                                                 {"username": "x", "password": "y" * 12,
                                                                  "role": "admin"}),
                               ("GET", "/api/v1/tokens", None),
                               ("POST", "/api/v1/tokens", {"name": "sneaky", "role": "admin"}),
                               ("PUT", f"/api/v1/services/{SERVICE}/weights", {"weights": {"v1": 100}})):
        r = deployer.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] in ("forbidden", "permission_denied"), r.text

    canary = next_version(stack)
    spec = {"service": SERVICE, "version": canary, "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 30},
                                                             {"pause": {}}]}
    ro = stack.start_rollout(deployer, spec)
    second = deployer.post("/api/v1/rollouts", json=spec)
    assert second.status_code == 409 and ro["id"] in second.text, second.text
    at_pause = stack.wait_rollout(ro["id"], lambda r: r["phase"] == "progressing" and r["step"]["index"] == 1,
                                  timeout=60)

    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def promote() -> None:
        with httpx.Client(base_url=stack.url("API"), headers=dict(deployer.headers), timeout=20) as c:
            barrier.wait()
            answers.append(c.post(f"/api/v1/rollouts/{ro['id']}/promote",
                                  json={"step": at_pause["step"]["index"], "reason": "CI job"}))

    threads = [threading.Thread(target=promote) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409], [(r.status_code, r.text) for r in answers]
    after = stack.rollout(ro["id"])
    assert after["step"]["index"] == 3 and after["canary_weight"] == 30, after
    promoted_by = [h for h in after["history"] if "promoted by" in (h.get("reason") or "")]
    assert len(promoted_by) == 1, history_text(after)

    # A stale If-Match is refused too; the current one works.
    stale = deployer.post(f"/api/v1/rollouts/{ro['id']}/pause", headers={"If-Match": f'"{at_pause["resource_version"]}"'})
    assert stale.status_code in (409, 412), stale.text
    ok = deployer.post(f"/api/v1/rollouts/{ro['id']}/abort", json={"reason": "e2e: enough"},
                       headers={"If-Match": f'"{after["resource_version"]}"'})
    assert ok.status_code == 200, ok.text
    done = stack.wait_rollout(ro["id"], "rolled_back", timeout=60)
    assert "aborted by token:ci-e2e: e2e: enough" in history_text(done)

    audit = stack.admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    mine = [a for a in audit if a["actor"] == "ci-e2e" and ro["id"] in (a["path"] or "")]
    paths = [(a["method"], a["path"].rsplit("/", 1)[-1], a["status_code"]) for a in mine]
    assert sorted(p for p in paths if p[1] == "promote") == [("POST", "promote", 200), ("POST", "promote", 409)], paths
    assert ("POST", "abort", 200) in paths, paths
    assert any(p[1] == "pause" and p[2] in (409, 412) for p in paths), paths
    created = [a for a in audit if a["actor"] == "ci-e2e" and a["method"] == "POST" and a["path"] == "/api/v1/rollouts"]
    assert created, [(a["actor"], a["method"], a["path"]) for a in audit[:30]]
    denied = [a for a in audit if a["actor"] == "ci-e2e" and a["status_code"] == 403]
    assert len(denied) >= 3, [(a["method"], a["path"], a["status_code"]) for a in audit if a["actor"] == "ci-e2e"]


# --- (b) 5% errors at 10% weight -------------------------------------------------------------------
def test_canary_with_errors_is_rolled_back_on_the_error_check(stack: RealStack, deployer: httpx.Client) -> None:
    canary = next_version(stack)
    stack.prepare_canary(SERVICE, canary, {"error_rate": 0.05})
    edge0, t0 = stack.edge_requests(), time.monotonic()
    ro = stack.start_rollout(deployer, {"service": SERVICE, "version": canary,
                                        "steps": [{"setWeight": 10}, {"analysis": {"duration": "10m"}}]})
    done = stack.wait_rollout(ro["id"], {"rolled_back", "failed", "promoted"}, timeout=300, poll=1)
    edge_rps = (stack.edge_requests() - edge0) / (time.monotonic() - t0)
    print(f"edge traffic during the rollout: {edge_rps:.1f} req/s")
    assert done["phase"] == "rolled_back", history_text(done)
    cause = next(h for h in done["history"] if h["phase"] == "rolling_back")
    assert cause["reason"].startswith("analysis failed: error_ratio failed"), cause["reason"]
    verdict = cause["data"]["verdict"]
    assert verdict["outcome"] == "fail"
    check = next(c for c in verdict["checks"] if c["name"] == "error_ratio")
    assert check["outcome"] == "fail" and check["e_value"] >= check["threshold"], check
    assert check["canary"]["events"] >= 1 and check["canary"]["requests"] > 0 and check["stable"]["requests"] > 0
    assert any("fleet_http_requests_total" in q and '5..' in q for q in verdict["queries"]), verdict["queries"]
    assert verdict["window"]["start"] and verdict["window"]["end"] > verdict["window"]["start"]
    assert cause["data"]["actions"][0] == f"set weights {ro['stable_version']}=100%, {canary}=0%"
    assert done["evidence"]["outcome"] == "fail"  # GET /rollouts/{id} alone answers "why did it roll back?"
    only_version_serving(stack, ro["stable_version"])


# --- (c) added latency --------------------------------------------------------------------------------
def test_canary_with_added_latency_is_rolled_back_on_the_latency_check(stack: RealStack, deployer: httpx.Client,
                                                                      tmp_path: Path) -> None:
    """Driven as CI would: `fleetdeck rollout start -f spec.yaml --wait` with the deployer token."""
    canary = next_version(stack)
    stack.prepare_canary(SERVICE, canary, {"latency_ms": 400})
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"service: {SERVICE}\nversion: {canary}\nsteps:\n  - setWeight: 10\n"
                    "  - analysis: {duration: 10m}\n")
    token = deployer.headers["Authorization"].split()[1]
    stack.env["FLEETDECK_TOKEN"] = token
    try:
        res = stack.cli("rollout", "start", SERVICE, canary, "-f", str(spec), "--wait", "--timeout", "170",
                        timeout=200)
    finally:
        del stack.env["FLEETDECK_TOKEN"]
    assert res.returncode == 1, res.stdout + res.stderr  # 1: rolled back
    assert "latency" in res.stdout + res.stderr, res.stdout + res.stderr
    ro = deployer.get("/api/v1/rollouts", params={"service": SERVICE, "limit": 1}).json()[0]
    assert ro["version"] == canary
    done = stack.rollout(ro["id"])
    assert done["phase"] == "rolled_back", history_text(done)
    cause = next(h for h in done["history"] if h["phase"] == "rolling_back")
    assert "latency failed" in cause["reason"], cause["reason"]
    check = next(c for c in cause["data"]["verdict"]["checks"] if c["name"] == "latency")
    assert check["outcome"] == "fail" and check["edge_s"] is not None and check["canary"]["events"] >= 1, check
    only_version_serving(stack, ro["stable_version"])


# --- (d) Prometheus stopped during analysis ----------------------------------------------------------
def test_prometheus_stopped_holds_the_rollout_inconclusive_until_it_is_back(stack: RealStack,
                                                                           deployer: httpx.Client) -> None:
    canary = next_version(stack)
    ro = stack.start_rollout(deployer, short_spec(canary))
    stack.wait_rollout(ro["id"], lambda r: r["phase"] == "progressing" and r["last_verdict"] == "continue",
                       timeout=60)
    prom = stack.pidfile("prometheus/prometheus.pid")
    assert prom and procs.pid_alive(prom)
    os.kill(prom, signal.SIGSTOP)
    try:
        stopped_at = time.time()
        held = stack.wait_rollout(ro["id"], lambda r: r["last_verdict"] == "inconclusive", timeout=40)
        step = held["step"]["index"]
        time.sleep(20)  # longer than the step's 8 s: without data it must not pass
        still = stack.rollout(ro["id"])
        assert still["phase"] == "progressing" and still["step"]["index"] == step, history_text(still)
        assert still["last_verdict"] == "inconclusive"
        holds = [v for v in verdicts(still) if v["at"] >= stopped_at and v["outcome"] == "inconclusive"]
        assert holds and all(v["missing"] == "unreachable" for v in holds), holds
        assert not [v for v in verdicts(still) if v["at"] >= stopped_at and v["outcome"] == "pass"]
    finally:
        os.kill(prom, signal.SIGCONT)
    done = stack.wait_rollout(ro["id"], {"promoted", "rolled_back", "failed"}, timeout=120, poll=1)
    assert done["phase"] == "promoted", history_text(done)
    only_version_serving(stack, canary)


# --- (e) the control plane killed with SIGKILL mid-rollout --------------------------------------------
def test_control_plane_killed_mid_rollout_carries_on_from_the_stored_step(stack: RealStack,
                                                                           deployer: httpx.Client) -> None:
    stable, canary = stable_of(stack), next_version(stack)
    spec = {"service": SERVICE, "version": canary,
            "steps": [{"setWeight": 20}, {"analysis": {"duration": "6s"}}, {"setWeight": 50},
                      {"analysis": {"duration": "20s"}}],
            "analysis": {"min_canary_requests": 15, "interval": "1s"}}
    ro = stack.start_rollout(deployer, spec)
    mid = stack.wait_rollout(ro["id"], lambda r: r["phase"] == "progressing" and r["step"]["index"] == 3,
                             timeout=90)
    seq_before = max(h["seq"] for h in mid["history"])
    daemon = stack.pidfile("daemon.pid")
    assert daemon
    stack.remember()
    os.kill(daemon, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while procs.pid_alive(daemon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not procs.pid_alive(daemon)
    # While the control plane is gone the data plane keeps the 50% split.
    assert stack.haproxy_weights(SERVICE).get(f"{canary}__1", 0) > 0

    stack.up(fresh_ports_on_conflict=False)  # the same ports: the running instances call them
    after_restart = stack.rollout(ro["id"])
    assert after_restart["step"]["index"] >= 3, history_text(after_restart)
    done = stack.wait_rollout(ro["id"], {"promoted", "rolled_back", "failed"}, timeout=120, poll=1)
    assert done["phase"] == "promoted", history_text(done)
    later = [h for h in done["history"] if h["seq"] > seq_before]
    assert any("control plane restarted" in (h["reason"] or "") for h in later), history_text(done)
    assert all(h["step_index"] >= 3 for h in later), history_text(done)  # never back to an earlier step
    assert [h["phase"] for h in done["history"]].count("promoting") == 1, history_text(done)
    assert [h["phase"] for h in done["history"]].count("promoted") == 1, history_text(done)
    assert not any("canary weight 20%" in (h["reason"] or "") for h in later)
    only_version_serving(stack, canary)
    assert stable != canary
