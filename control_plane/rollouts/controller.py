"""The rollout controller: feeds events to the pure state machine and carries out its actions.

One loop (``step`` every ``analysis.interval``) for every active rollout: a tick, then, while the
canary takes traffic, a look at Prometheus and the judge's verdict. Each event goes through
:func:`control_plane.domain.rollout.transition`; a transition that changed something is persisted
with its reason (optimistic locking) *before* its actions run; the actions' outcomes come back as
events. Operator commands take the same path, so two simultaneous "promote" calls give one
transition and one ConflictError. After a restart, :meth:`resume` re-applies what the stored state
awaits (every action is idempotent), and the loop carries on from the stored step. The judge's
evidence is kept in memory: after a restart its test starts again from zero, which only costs
speed, never validity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from control_plane.domain import judge as J
from control_plane.domain import rollout as R
from control_plane.errors import ConflictError, FleetdeckError, ValidationError
from control_plane.interfaces import MetricsSource
from control_plane.rollouts import observe
from control_plane.rollouts.ports import Hooks, Target
from control_plane.store.rollout_repo import RolloutRepo, StoredRollout

log = logging.getLogger(__name__)

EVIDENCE_EVERY_S = 10.0
LOOP_TICK_S = 0.5  # the loop's pace; each rollout is looked at once per its analysis.interval
LOOK_SLACK_S = 0.05  # a look due within this much of now is taken at this tick
_NOT_READY = object()  # an action outcome: instances are starting, carry on at a later pass  # refresh of the stored latest evidence while nothing changes


@dataclass
class _JudgeRun:
    """The judge's memory for one attempt of one rollout."""

    config: J.JudgeConfig
    state: J.JudgeState = field(default_factory=J.JudgeState)
    prev: observe.Snapshot | None = None
    step: int | None = None
    extra: dict[str, J.RangeCheckState] = field(default_factory=dict)
    evidence_at: float = 0.0
    looked_at: float = float("-inf")  # the last look at the metrics (one per analysis.interval)


def describe(action: R.Action) -> str:
    """A short human name of an action for the history."""
    if isinstance(action, R.SetWeights):
        return "set weights " + ", ".join(f"{v}={w}%" for v, w in action.weights)
    if isinstance(action, R.ScaleVersion):
        return f"scale {action.version} to {action.replicas}"
    if isinstance(action, R.DrainVersion):
        return f"drain {action.version}"
    if isinstance(action, R.StopVersion):
        return f"stop {action.version}"
    if isinstance(action, R.CallWebhook):
        return f"call {action.hook.value} webhooks"
    if isinstance(action, R.Notify):
        return f"notify ({action.phase.value})"
    return f"begin step {action.index + 1}"


class RolloutController:
    """Drives every active rollout; the API and CLI call ``create``, ``command``, ``get``, ``events``."""

    def __init__(self, repo: RolloutRepo, target: Target, metrics: MetricsSource | None, hooks: Hooks, *,
                 clock: Callable[[], float] = time.time, ready_timeout_s: float = 120.0) -> None:
        self.repo, self.target, self.metrics, self.hooks = repo, target, metrics, hooks
        self.clock, self.ready_timeout_s = clock, ready_timeout_s
        self._judges: dict[tuple[str, int], _JudgeRun] = {}
        self._lock = threading.RLock()  # one rollout changed at a time in this process

    # --- the API's entry points ---------------------------------------------------------------------
    def create(self, raw_spec: Mapping[str, Any], actor: str) -> dict[str, Any]:
        """Validate and store a new rollout (pending); the loop starts it."""
        spec = R.parse_spec(raw_spec)
        stable, replicas = self.target.stable_of(spec.service)
        if stable == spec.version:
            raise ValidationError(f"{spec.version} is already the stable version of {spec.service}", field="version")
        plan = R.Plan(spec, stable, replicas)
        now = self.clock()
        first = R.start(plan, now)
        with self._lock:
            stored = self.repo.create(plan, first.state, first.reason, actor, now)
        return stored.to_json()

    def get(self, rid: str) -> dict[str, Any]:
        stored = self.repo.get(rid)
        out = stored.to_json()
        out["history"] = self.repo.events(rid)
        return out

    def list(self, service: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.repo.list(service, limit)]

    def events(self, rid: str, after: int = 0) -> list[dict[str, Any]]:
        return self.repo.events(rid, after)

    def active_for(self, service: str) -> dict[str, Any] | None:
        stored = self.repo.active_for(service)
        return None if stored is None else {"id": stored.id, "version": stored.plan.canary,
                                            "phase": stored.state.phase.value}

    def command(self, rid: str, command: R.Command, actor: str, reason: str = "",
                expected_version: int | None = None) -> dict[str, Any]:
        """An operator control; ConflictError if the phase forbids it or someone changed the rollout first."""
        with self._lock:
            stored = self.repo.get(rid)
            if expected_version is not None and expected_version != stored.version:
                raise ConflictError(f"rollout {rid} is at version {stored.version}, not {expected_version}",
                                    details={"rollout_id": rid, "resource_version": stored.version})
            event = R.Operator(command, self.clock(), actor, reason)
            self._feed(stored, event, data={"actor": actor, "command": command.value, "reason": reason})
        return self.repo.get(rid).to_json()

    # --- the loop -----------------------------------------------------------------------------------
    def resume(self) -> None:
        """After a restart: redo what each stored state awaits (idempotent actions), then carry on."""
        with self._lock:
            for stored in self.repo.active():
                actions = R.in_flight_actions(stored.plan, stored.state)
                if actions:
                    self.repo.note(stored.id, self.clock(), "action", stored.state,
                                   "control plane restarted: re-applying " + "; ".join(map(describe, actions)))
                    self._run(stored, actions)

    def step(self) -> None:
        """One pass over every active rollout: a tick, then a look and a verdict where there is traffic."""
        with self._lock:
            for stored in self.repo.active():
                try:
                    self._step_one(stored)
                except ConflictError:
                    continue  # an operator changed it meanwhile; the next pass sees the new state
                except Exception:
                    log.exception("rollout %s: controller step failed", stored.id)

    def run_forever(self, stop: threading.Event, interval_s: float = LOOP_TICK_S) -> None:
        """The background loop (the daemon runs it in a thread)."""
        self.resume()
        while not stop.is_set():
            began = self.clock()
            self.step()
            stop.wait(max(0.1, interval_s - (self.clock() - began)))

    def _step_one(self, stored: StoredRollout) -> None:
        now = self.clock()
        stored = self._carry_on(stored, now)
        stored = self._feed(stored, R.Tick(self.clock()))
        s = stored.state
        if s.phase in (R.Phase.PROGRESSING, R.Phase.PAUSED) and s.canary_weight > 0:
            run = self._judges.setdefault((stored.id, s.attempt), _JudgeRun(stored.plan.spec.analysis.judge_config()))
            now = self.clock()  # after the tick's actions: the verdict is never dated before them
            if now - run.looked_at < stored.plan.spec.analysis.interval_s - LOOK_SLACK_S:
                return  # the loop ticks faster than this rollout's analysis interval
            run.looked_at = now
            verdict = self._judge(stored, now)
            stored = self._feed(stored, R.VerdictEvent(verdict.outcome, verdict.reason, now),
                                data={"verdict": verdict.to_dict()}, evidence=verdict.to_dict())

    def _carry_on(self, stored: StoredRollout, now: float) -> StoredRollout:
        """Finish actions that waited for instances to become ready (all idempotent, so redone from the top)."""
        s = stored.state
        if s.waiting not in (R.Wait.CANARY_READY, R.Wait.ACTIONS) or s.phase.terminal:
            return stored
        if now - s.updated_at > self.ready_timeout_s:
            return self._feed(stored, R.ActionFailed("wait for ready instances",
                                                     f"not ready after {self.ready_timeout_s:g}s", now))
        return self._run(stored, R.in_flight_actions(stored.plan, s))

    # --- the judge ----------------------------------------------------------------------------------
    def _judge(self, stored: StoredRollout, now: float) -> J.Verdict:
        plan, s = stored.plan, stored.state
        spec = plan.spec
        run = self._judges.setdefault((stored.id, s.attempt), _JudgeRun(spec.analysis.judge_config()))
        if run.step != s.step_index:
            run.state = J.begin_step(run.state, s.step_started_at if s.step_started_at is not None else now)
            run.step = s.step_index
        missing: J.Missing | None = None
        if self.metrics is None:
            missing = J.Missing(J.MissingKind.UNREACHABLE, "no metrics source configured", now)
        else:
            first_gate = next((i for i, st in enumerate(spec.steps) if st.kind is not R.StepKind.SET_WEIGHT), -1)
            zero_before = (s.step_started_at if run.prev is None and s.step_index == first_gate else None)
            snap = observe.snapshot(self.metrics, spec.service, plan.stable_version, plan.canary, now,
                                    with_latency=spec.analysis.latency, canary_zero_before=zero_before)
            if isinstance(snap, J.Missing):
                missing = snap
            elif run.prev is None:
                run.prev = snap
            else:
                shown = tuple(observe.queries(spec.service, plan.stable_version, plan.canary).values())
                got = observe.interval(run.prev, snap, plan.stable_version, plan.canary, shown)
                if isinstance(got, J.Missing):
                    missing, run.prev = got, snap  # start counting again from this scrape
                elif got is not None:
                    run.state = J.observe(run.state, got, run.config)
                    run.prev = snap
            for check in spec.analysis.extra:
                q = observe.expand(check.query, spec.service, plan.stable_version, plan.canary)
                run.extra[check.name] = J.range_check(run.extra.get(check.name, J.RangeCheckState()),
                                                      observe.scalar(self.metrics, q, now), low=check.min,
                                                      high=check.max, failure_limit=check.failure_limit)
        step = spec.steps[s.step_index] if s.step_index < len(spec.steps) else None
        min_duration = step.duration_s if step is not None and step.duration_s is not None else 0.0
        verdict = J.judge(run.state, run.config, now=now, min_duration_s=min_duration, missing=missing)
        verdict = J.combine(verdict, run.extra)
        if now - run.evidence_at >= EVIDENCE_EVERY_S:
            run.evidence_at = now
            self.repo.note_evidence(stored.id, verdict.to_dict())
        return verdict

    # --- events and actions -------------------------------------------------------------------------
    def _feed(self, stored: StoredRollout, event: R.Event, *, data: dict | None = None,
              evidence: dict | None = None) -> StoredRollout:
        t = R.transition(stored.plan, stored.state, event)
        if not t.changed:
            return stored
        record = dict(data or {})
        if t.actions:
            record["actions"] = [describe(a) for a in t.actions]
        version = self.repo.save(stored.id, stored.version, t.state, t.reason, data=record or None,
                                 evidence=evidence)
        stored = replace(stored, state=t.state, version=version)
        return self._run(stored, t.actions)

    def _run(self, stored: StoredRollout, actions: tuple[R.Action, ...]) -> StoredRollout:
        followups: list[R.Event] = []
        for action in actions:
            try:
                result = self._do(stored, action)
            except Exception as exc:  # noqa: BLE001 - any failure of the machinery is reported, with its cause
                message = exc.message if isinstance(exc, FleetdeckError) else f"{type(exc).__name__}: {exc}"
                if isinstance(action, R.Notify):
                    self.repo.note(stored.id, self.clock(), "action", stored.state, f"{describe(action)}: {message}")
                    continue
                return self._feed(stored, R.ActionFailed(describe(action), message, self.clock()))
            if result is _NOT_READY:
                return stored  # carried on by _carry_on once the instances are ready
            if result is not None:
                followups.append(result)
        if actions and stored.state.waiting in (R.Wait.CANARY_READY, R.Wait.ACTIONS):
            stored = self._feed(stored, R.ActionsDone(self.clock()))
        for event in followups:
            stored = self._feed(stored, event)
        return stored

    def _do(self, stored: StoredRollout, action: R.Action) -> R.Event | object | None:
        plan = stored.plan
        service = plan.spec.service
        if isinstance(action, R.SetWeights):
            self.target.set_weights(service, action.as_dict())
        elif isinstance(action, R.ScaleVersion):
            # Never block the loop on start-up: the rest of the list waits for a later pass.
            self.target.scale(service, action.version, action.replicas)
            if not self.target.ready(service, action.version, action.replicas):
                return _NOT_READY
        elif isinstance(action, R.DrainVersion):
            self.target.drain(service, action.version)
        elif isinstance(action, R.StopVersion):
            self.target.stop(service, action.version)
        elif isinstance(action, R.BeginStep):
            run = self._judges.get((stored.id, stored.state.attempt))
            if run is not None:
                run.state, run.step = J.begin_step(run.state, action.at), action.index
        elif isinstance(action, R.CallWebhook):
            return self._call_hooks(stored, action)
        elif isinstance(action, R.Notify):
            for note in plan.spec.notifications:
                self.hooks.notify(note, self._payload(stored, action.phase.value, action.message))
        return None

    def _call_hooks(self, stored: StoredRollout, action: R.CallWebhook) -> R.Event:
        details, ok = [], True
        for hook in stored.plan.spec.hooks(action.hook):
            accepted, detail = self.hooks.call(hook, self._payload(stored, stored.state.phase.value,
                                                                   stored.state.reason, hook=action.hook.value))
            ok = ok and accepted
            details.append(detail)
        return R.WebhookResult(action.hook, ok, "; ".join(details) or "no webhooks", self.clock())

    @staticmethod
    def _payload(stored: StoredRollout, phase: str, reason: str, hook: str | None = None) -> dict[str, Any]:
        body = {"rollout": stored.id, "service": stored.plan.spec.service, "version": stored.plan.canary,
                "stable_version": stored.plan.stable_version, "phase": phase, "reason": reason,
                "step": stored.state.step_index, "canary_weight": stored.state.canary_weight}
        if hook:
            body["hook"] = hook
        return body
