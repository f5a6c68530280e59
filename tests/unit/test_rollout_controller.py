"""The controller against fakes of our own interfaces (Target, MetricsSource, Hooks), an injected
clock and a real SQLite control store built by the migrations. No servers, no sleeping."""

from __future__ import annotations

import math
import threading
from datetime import datetime

import pytest

from control_plane.domain import rollout as R
from control_plane.errors import ConflictError, TemporaryError, ValidationError
from control_plane.interfaces import Sample
from control_plane.rollouts.controller import RolloutController
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.rollout_repo import RolloutRepo

FAST = [{"setWeight": 10}, {"analysis": {"duration": "20s"}}, {"setWeight": 50}, {"analysis": {"duration": "20s"}}]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


class FakeTarget:
    """The fleet: desired replicas and weights, instantly ready; records every call in order."""

    def __init__(self) -> None:
        self.replicas = {"v1": 2}
        self.weights = {"v1": 100}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def stable_of(self, service: str) -> tuple[str, int]:
        return max(self.weights, key=lambda v: self.weights[v]), self.replicas[max(self.weights, key=self.weights.get)]

    def scale(self, service: str, version: str, replicas: int) -> None:
        self.calls.append(("scale", version, replicas))
        self.replicas[version] = replicas
        self.weights.setdefault(version, 0)

    def ready(self, service: str, version: str, replicas: int) -> bool:
        return self.replicas.get(version, 0) >= replicas

    def set_weights(self, service: str, weights) -> None:
        self.calls.append(("weights", dict(weights)))
        self.weights = dict(weights)

    def drain(self, service: str, version: str) -> None:
        self.calls.append(("drain", version))

    def stop(self, service: str, version: str) -> None:
        self.calls.append(("stop", version))
        self.replicas[version] = 0


class FakePrometheus:
    """Counters that grow with the target's weights; scraped on ``scrape``; can be 'down'."""

    def __init__(self, target: FakeTarget, clock: Clock, rps: float = 100.0, canary_error_every: int = 0,
                 canary_slow: bool = False) -> None:
        self.target, self.clock, self.rps = target, clock, rps
        self.every, self.slow = canary_error_every, canary_slow
        self.req = {"v1": 0.0, "v2": 0.0}
        self.err = {"v1": 0.0, "v2": 0.0}
        self.fast = {"v1": 0.0, "v2": 0.0}
        self.scraped: dict = {}
        self.scraped_at = 0.0
        self.down = False

    def run(self, seconds: float) -> None:
        for v in ("v1", "v2"):
            n = round(self.rps * seconds * self.target.weights.get(v, 0) / 100)
            before = self.req[v]
            self.req[v] += n
            if v == "v2" and self.every:
                self.err[v] += int(self.req[v] // self.every) - int(before // self.every)
            if not (v == "v2" and self.slow):
                self.fast[v] += n
        self.scraped = {"req": dict(self.req), "err": dict(self.err), "fast": dict(self.fast)}
        self.scraped_at = self.clock.now

    def instant(self, promql: str, at: datetime | None = None) -> list[Sample]:
        if self.down:
            raise TemporaryError("prometheus: connection refused")
        when = datetime.fromtimestamp(self.clock.now)
        if not self.scraped:
            return []
        if "timestamp(" in promql:
            return [Sample({"version": v}, self.scraped_at, when) for v in ("v1", "v2")]
        if "_bucket" in promql:
            out = []
            for v in ("v1", "v2"):
                fast, total = self.scraped["fast"][v], self.scraped["req"][v]
                out += [Sample({"version": v, "le": "0.05"}, fast, when),
                        Sample({"version": v, "le": "1"}, total, when),
                        Sample({"version": v, "le": "+Inf"}, total, when)]
            return out
        if "5.." in promql:
            return [Sample({"version": v}, self.scraped["err"][v], when) for v in ("v1", "v2")]
        if "fleet_http_requests_total" in promql:
            return [Sample({"version": v}, self.scraped["req"][v], when) for v in ("v1", "v2")]
        return [Sample({}, 0.5, when)]

    def healthy(self) -> bool:
        return not self.down


class FakeHooks:
    def __init__(self, answers: list[bool] | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[tuple[str, dict]] = []
        self.notes: list[dict] = []

    def call(self, hook, payload):
        self.calls.append((hook.kind.value, dict(payload)))
        ok = self.answers.pop(0) if self.answers else True
        return ok, "HTTP 200" if ok else "HTTP 403 frozen"

    def notify(self, note, payload):
        self.notes.append(dict(payload))


@pytest.fixture
def sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'control.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def make(sessions, *, every: int = 0, slow: bool = False, hooks: FakeHooks | None = None):
    clock = Clock()
    target = FakeTarget()
    prom = FakePrometheus(target, clock, canary_error_every=every, canary_slow=slow)
    ctl = RolloutController(RolloutRepo(sessions), target, prom, hooks or FakeHooks(), clock=clock)
    return ctl, clock, target, prom


def drive(ctl, clock, prom, seconds: float, stop_when=None) -> None:
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 2.0
        prom.run(2.0)
        ctl.step()
        if stop_when and stop_when():
            return


def phase(ctl, rid) -> str:
    return ctl.get(rid)["phase"]


def test_healthy_canary_is_promoted_through_every_step_and_only_v2_serves(sessions):
    ctl, clock, target, prom = make(sessions)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    drive(ctl, clock, prom, 200, lambda: phase(ctl, rid) == "promoted")
    out = ctl.get(rid)
    assert out["phase"] == "promoted", out["reason"]
    assert target.weights == {"v1": 0, "v2": 100}
    # Full size before the traffic moves; the old version drained before it is stopped.
    tail = target.calls[-4:]
    assert tail == [("scale", "v2", 2), ("weights", {"v1": 0, "v2": 100}), ("drain", "v1"), ("stop", "v1")]
    reasons = [e["reason"] for e in out["history"]]
    assert any("step 2 passed" in r for r in reasons) and any("step 4 passed" in r for r in reasons)
    assert ctl.active_for("cart") is None


def test_bad_canary_is_rolled_back_in_seconds_and_the_evidence_names_the_check(sessions):
    ctl, clock, target, prom = make(sessions, every=20)  # 5% errors on v2, none on v1
    rid = ctl.create({"service": "cart", "version": "v2"}, actor="ci")["id"]
    began = clock.now
    drive(ctl, clock, prom, 120, lambda: phase(ctl, rid) == "rolled_back")
    out = ctl.get(rid)
    assert out["phase"] == "rolled_back"
    assert clock.now - began <= 20
    assert target.weights == {"v1": 100, "v2": 0}
    weights_zero = target.calls.index(("weights", {"v1": 100, "v2": 0}))
    assert target.calls.index(("stop", "v2")) > weights_zero
    failing = next(e for e in out["history"] if e["phase"] == "rolling_back")
    assert failing["reason"].startswith("analysis failed: error_ratio failed")
    evidence = failing["data"]["verdict"]
    check = next(c for c in evidence["checks"] if c["name"] == "error_ratio")
    assert check["outcome"] == "fail" and check["log_e_value"] >= check["log_threshold"]
    assert check["canary"]["events"] >= 3 and check["stable"]["events"] == 0
    assert any("fleet_http_requests_total" in q for q in evidence["queries"])


def test_slow_canary_is_rolled_back_on_latency(sessions):
    ctl, clock, _target, prom = make(sessions, slow=True)
    rid = ctl.create({"service": "cart", "version": "v2"}, actor="ci")["id"]
    drive(ctl, clock, prom, 120, lambda: phase(ctl, rid) == "rolled_back")
    assert "latency failed" in ctl.get(rid)["history"][-2]["reason"]


def test_unreachable_prometheus_holds_inconclusive_then_resumes(sessions):
    ctl, clock, _target, prom = make(sessions)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    drive(ctl, clock, prom, 6)
    prom.down = True
    drive(ctl, clock, prom, 120)
    out = ctl.get(rid)
    assert out["phase"] == "progressing" and out["step"]["index"] == 1
    assert out["last_verdict"] == "inconclusive"
    assert "connection refused" in out["evidence"]["reason"]
    prom.down = False
    drive(ctl, clock, prom, 200, lambda: phase(ctl, rid) == "promoted")
    assert phase(ctl, rid) == "promoted"


def test_a_restarted_controller_carries_on_from_the_stored_step_without_double_promotion(sessions):
    ctl, clock, target, prom = make(sessions)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    drive(ctl, clock, prom, 30, lambda: ctl.get(rid)["step"]["index"] == 3)
    assert ctl.get(rid)["step"]["index"] == 3
    # A new process: same store, same fleet, fresh memory.
    again = RolloutController(RolloutRepo(sessions), target, prom, FakeHooks(), clock=clock)
    again.resume()
    assert target.weights == {"v1": 50, "v2": 50}
    drive(again, clock, prom, 200, lambda: phase(again, rid) == "promoted")
    assert phase(again, rid) == "promoted"
    assert [c for c in target.calls if c == ("stop", "v1")] == [("stop", "v1")]


def test_two_promotes_from_the_same_read_give_one_step_forward(sessions):
    ctl, clock, _target, prom = make(sessions)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    drive(ctl, clock, prom, 4)
    seen = ctl.get(rid)["resource_version"]
    ctl.command(rid, R.Command.PROMOTE, "ci-1", expected_version=seen)
    with pytest.raises(ConflictError):
        ctl.command(rid, R.Command.PROMOTE, "ci-2", expected_version=seen)
    assert ctl.get(rid)["step"]["index"] == 3


def test_second_rollout_of_a_service_is_refused_with_the_first_id(sessions):
    ctl, *_ = make(sessions)
    first = ctl.create({"service": "cart", "version": "v2"}, actor="ci")["id"]
    with pytest.raises(ConflictError) as err:
        ctl.create({"service": "cart", "version": "v3"}, actor="ci")
    assert err.value.details["rollout_id"] == first
    with pytest.raises(ValidationError):
        ctl.create({"service": "cart", "version": "v1"}, actor="ci")


def test_abort_then_retry(sessions):
    ctl, clock, target, prom = make(sessions)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    drive(ctl, clock, prom, 4)
    ctl.command(rid, R.Command.ABORT, "alice", "wrong build")
    out = ctl.get(rid)
    assert out["phase"] == "rolled_back" and "aborted by alice: wrong build" in out["reason"]
    assert target.weights == {"v1": 100, "v2": 0}
    ctl.command(rid, R.Command.RETRY, "alice")
    drive(ctl, clock, prom, 200, lambda: phase(ctl, rid) == "promoted")
    assert phase(ctl, rid) == "promoted" and ctl.get(rid)["attempt"] == 2


def test_refused_pre_rollout_webhook_holds_and_notifications_follow_every_phase(sessions):
    hooks = FakeHooks(answers=[False, True])
    ctl, clock, target, prom = make(sessions, hooks=hooks)
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST,
                      "webhooks": [{"type": "pre-rollout", "url": "http://ci/gate"}],
                      "notifications": [{"url": "http://chat/hook"}]}, actor="ci")["id"]
    drive(ctl, clock, prom, 6)
    assert phase(ctl, rid) == "pending" and "refused" in ctl.get(rid)["reason"]
    assert target.weights == {"v1": 100}
    drive(ctl, clock, prom, 200, lambda: phase(ctl, rid) == "promoted")
    assert phase(ctl, rid) == "promoted"
    assert [c[0] for c in hooks.calls] == ["pre-rollout", "pre-rollout"]
    assert [n["phase"] for n in hooks.notes] == ["progressing", "promoting", "promoted"]


def test_an_action_failure_fails_the_rollout_and_says_why(sessions):
    ctl, clock, target, prom = make(sessions)

    def broken(service, version, replicas):
        raise TemporaryError("runtime: no free port")

    target.scale = broken  # type: ignore[method-assign]
    rid = ctl.create({"service": "cart", "version": "v2"}, actor="ci")["id"]
    drive(ctl, clock, prom, 4)
    out = ctl.get(rid)
    assert out["phase"] == "failed" and "scale v2 to 1 failed: runtime: no free port" in out["reason"]
    assert not math.isnan(out["updated_at"])


def test_slow_starting_canary_does_not_block_the_loop_and_can_be_aborted_meanwhile(sessions):
    ctl, clock, target, prom = make(sessions)
    ready_at = clock.now + 30
    target.ready = lambda service, version, replicas: clock.now >= ready_at  # type: ignore[method-assign]
    rid = ctl.create({"service": "cart", "version": "v2", "steps": FAST}, actor="ci")["id"]
    before = clock.now
    drive(ctl, clock, prom, 10)
    assert clock.now - before == 10  # each pass returned at once
    assert ctl.get(rid)["waiting_for"] == "canary-ready"
    drive(ctl, clock, prom, 30)
    assert ctl.get(rid)["phase"] == "progressing" and target.weights == {"v1": 90, "v2": 10}
    other = ctl.create({"service": "catalog", "version": "v2"}, actor="ci")["id"]
    target.ready = lambda service, version, replicas: False  # type: ignore[method-assign]
    ctl.command(rid, R.Command.ABORT, "alice", "changed my mind")
    assert phase(ctl, rid) == "rolled_back"
    drive(ctl, clock, prom, 130)
    out = ctl.get(other)
    assert out["phase"] == "failed" and "not ready after 120s" in out["reason"]
