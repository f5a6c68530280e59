"""The rollout state machine: a pure function of (plan, state, event) -> (state, actions, reason).

The controller feeds it events (timer ticks, judge verdicts, operator commands, webhook answers,
the outcome of the actions it carried out), persists the new state with its reason, and only then
carries out the actions, in order, through the runtime and the router. Nothing here does I/O or
reads a clock: time comes in on the events.

    pending ──► progressing (step i) ──► promoting ──► promoted
       │             │   ▲                   │
       │             ▼   │                   ▼
       │           paused                  failed (an action could not be carried out)
       ▼             │
    rolling_back ◄───┘ (analysis failed, or abort) ──► rolled_back ──retry──► pending

Safety rules encoded here (each has a test): a rollback sets the canary's weight to zero before
anything else and only then stops it; a promotion brings the new version to full size before
shifting traffic and drains the old one before stopping it; a failed verdict rolls back even
while paused (the canary still serves users); gating webhooks hold, they never skip.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from control_plane.domain.judge import Outcome
from control_plane.domain.rollout_spec import (  # noqa: F401  (re-exported: the spec is part of this API)
    DEFAULT_STEPS,
    AnalysisSpec,
    ExtraCheck,
    HookKind,
    Notification,
    NotifyKind,
    RolloutSpec,
    Step,
    StepKind,
    Webhook,
    parse_spec,
)
from control_plane.errors import ConflictError

HOOK_RETRY_S = 10.0  # a refused gating webhook is asked again after this long


class Phase(enum.Enum):
    """Where a rollout is."""

    PENDING = "pending"  # accepted; pre-rollout webhooks and the canary's start-up, no traffic yet
    PROGRESSING = "progressing"  # walking the steps (step_index says which); the judge watches throughout
    PAUSED = "paused"  # paused by an operator: step timers stop, a failed verdict still rolls back
    PROMOTING = "promoting"  # replacing stable with the new version (actions in flight)
    PROMOTED = "promoted"  # done: the new version serves all traffic, the old one is stopped
    ROLLING_BACK = "rolling_back"  # canary weight to zero, then the canary stopped (actions in flight)
    ROLLED_BACK = "rolled_back"  # done: analysis failed or an operator aborted; stable serves everything
    FAILED = "failed"  # the machinery failed (an action could not be carried out); the reason says why

    @property
    def terminal(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.FAILED)


class Wait(enum.Enum):
    """What a rollout is waiting for besides its step's own condition."""

    NOTHING = "nothing"  # the current step's condition (its duration, a verdict, an operator)
    PRE_ROLLOUT = "pre-rollout"  # the pre-rollout webhooks' answer
    CANARY_READY = "canary-ready"  # the canary's instances to be ready
    CONFIRM_PROMOTION = "confirm-promotion"  # the confirm-promotion webhooks' answer
    ACTIONS = "actions"  # the promotion or rollback actions to finish


class Command(enum.Enum):
    """Operator controls (API, CLI, dashboard)."""

    PROMOTE = "promote"  # finish the current step now
    PROMOTE_FULL = "promote-full"  # skip the remaining steps and promote
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"  # roll back
    RETRY = "retry"  # start a rolled-back or failed rollout again from the first step


@dataclass(frozen=True)
class Plan:
    """What the machine needs besides its state: the spec and the stable version it replaces."""

    spec: RolloutSpec
    stable_version: str
    stable_replicas: int = 1

    @property
    def canary(self) -> str:
        return self.spec.version


@dataclass(frozen=True)
class RolloutState:
    """The persisted state of one rollout (times are unix seconds from the events)."""

    phase: Phase = Phase.PENDING
    step_index: int = 0
    step_started_at: float | None = None
    waiting: Wait = Wait.NOTHING
    canary_weight: int = 0
    paused_at: float | None = None
    hook_retry_at: float | None = None
    attempt: int = 1
    last_verdict: str | None = None
    reason: str = "created"
    updated_at: float = 0.0


# --- events --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tick:
    now: float


@dataclass(frozen=True)
class VerdictEvent:
    outcome: Outcome
    reason: str
    at: float


@dataclass(frozen=True)
class Operator:
    command: Command
    at: float
    actor: str = "operator"
    reason: str = ""


@dataclass(frozen=True)
class WebhookResult:
    hook: HookKind
    ok: bool
    detail: str
    at: float


@dataclass(frozen=True)
class ActionsDone:
    """Every action of the last transition was carried out."""

    at: float


@dataclass(frozen=True)
class ActionFailed:
    action: str
    error: str
    at: float


Event = Tick | VerdictEvent | Operator | WebhookResult | ActionsDone | ActionFailed


# --- actions -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SetWeights:
    """Route traffic: percentage per version (sums to 100)."""

    weights: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, int]:
        return dict(self.weights)


@dataclass(frozen=True)
class ScaleVersion:
    """Run this many instances of a version and wait until they are ready."""

    version: str
    replicas: int


@dataclass(frozen=True)
class DrainVersion:
    """Stop new requests to a version's instances and let in-flight ones finish."""

    version: str


@dataclass(frozen=True)
class StopVersion:
    """Stop a version's instances (it stays known, at zero replicas, so it can be started again)."""

    version: str


@dataclass(frozen=True)
class BeginStep:
    """The judge starts counting a new step's canary traffic."""

    index: int
    at: float


@dataclass(frozen=True)
class CallWebhook:
    """Call the spec's webhooks of this kind; gating ones answer with a WebhookResult."""

    hook: HookKind


@dataclass(frozen=True)
class Notify:
    """Tell the spec's notification URLs about a phase change."""

    phase: Phase
    message: str


Action = SetWeights | ScaleVersion | DrainVersion | StopVersion | BeginStep | CallWebhook | Notify


@dataclass(frozen=True)
class Transition:
    """The outcome of one event. ``reason`` empty: nothing worth recording happened."""

    state: RolloutState
    actions: tuple[Action, ...] = ()
    reason: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.reason)


# --- the machine ---------------------------------------------------------------------------------

def start(plan: Plan, at: float) -> Transition:
    """The first transition of a new rollout."""
    return Transition(RolloutState(updated_at=at, reason=f"created: {plan.stable_version} -> {plan.canary}"),
                      reason=f"created: {plan.stable_version} -> {plan.canary}")


def transition(plan: Plan, state: RolloutState, event: Event) -> Transition:
    """Apply one event. Operator commands a phase forbids raise ConflictError (nothing changes)."""
    t = _dispatch(plan, state, event)
    if not t.changed:
        return t
    new = replace(t.state, reason=t.reason, updated_at=_time(event))
    actions = t.actions
    if new.phase is not state.phase and plan.spec.notifications:
        actions = actions + (Notify(new.phase, t.reason),)
    return Transition(new, actions, t.reason)


def _time(event: Event) -> float:
    return event.now if isinstance(event, Tick) else event.at


def _dispatch(plan: Plan, s: RolloutState, e: Event) -> Transition:
    if isinstance(e, Operator):
        return _command(plan, s, e)
    if isinstance(e, ActionFailed):
        return _action_failed(plan, s, e)
    if s.phase.terminal:
        if isinstance(e, WebhookResult):
            return _informational_hook(s, e)
        return Transition(s)
    if s.phase is Phase.PENDING:
        return _pending(plan, s, e)
    if s.phase in (Phase.PROMOTING, Phase.ROLLING_BACK):
        if isinstance(e, ActionsDone) and s.waiting is Wait.ACTIONS:
            return _finish(plan, s, e.at)
        return Transition(s)
    return _running(plan, s, e)


def _pending(plan: Plan, s: RolloutState, e: Event) -> Transition:
    if isinstance(e, Tick):
        if s.waiting is Wait.NOTHING:
            if plan.spec.hooks(HookKind.PRE_ROLLOUT):
                return Transition(replace(s, waiting=Wait.PRE_ROLLOUT, hook_retry_at=None),
                                  (CallWebhook(HookKind.PRE_ROLLOUT),), "calling the pre-rollout webhooks")
            return _start_canary(plan, s)
        if s.waiting is Wait.PRE_ROLLOUT and s.hook_retry_at is not None and e.now >= s.hook_retry_at:
            return Transition(replace(s, hook_retry_at=None), (CallWebhook(HookKind.PRE_ROLLOUT),),
                              "asking the pre-rollout webhooks again")
        return Transition(s)
    if isinstance(e, WebhookResult) and e.hook is HookKind.PRE_ROLLOUT and s.waiting is Wait.PRE_ROLLOUT:
        if e.ok:
            return _start_canary(plan, s, note=f"pre-rollout webhooks agreed ({e.detail}); ")
        return Transition(replace(s, hook_retry_at=e.at + HOOK_RETRY_S),
                          reason=f"held: pre-rollout webhook refused: {e.detail}")
    if isinstance(e, ActionsDone) and s.waiting is Wait.CANARY_READY:
        return _enter(plan, replace(s, phase=Phase.PROGRESSING, waiting=Wait.NOTHING), 0, e.at,
                      f"canary {plan.canary} is ready; ")
    return Transition(s)


def _start_canary(plan: Plan, s: RolloutState, note: str = "") -> Transition:
    n = plan.spec.canary_replicas
    return Transition(replace(s, waiting=Wait.CANARY_READY, hook_retry_at=None),
                      (ScaleVersion(plan.canary, n),),
                      f"{note}starting canary {plan.canary} ({n} instance{'s' if n != 1 else ''})")


def _weights(plan: Plan, canary: int) -> SetWeights:
    return SetWeights(((plan.stable_version, 100 - canary), (plan.canary, canary)))


def _enter(plan: Plan, s: RolloutState, index: int, now: float, note: str = "") -> Transition:
    """Run steps from ``index``: weights are instant, a pause or analysis waits; past the end, promote."""
    actions: list[Action] = []
    notes = [note.rstrip("; ")] if note else []
    steps = plan.spec.steps
    while index < len(steps) and steps[index].kind is StepKind.SET_WEIGHT:
        w = steps[index].weight or 0
        actions.append(_weights(plan, w))
        s = replace(s, canary_weight=w)
        notes.append(f"step {index + 1}/{len(steps)}: canary weight {w}%")
        index += 1
    if index >= len(steps):
        t = _begin_promotion(plan, replace(s, step_index=len(steps)), now, "; ".join(notes + ["steps done"]))
        return Transition(t.state, tuple(actions) + t.actions, t.reason)
    step = steps[index]
    what = ("analysis" if step.kind is StepKind.ANALYSIS else "pause")
    how = (f"{step.duration_s:g}s" if step.duration_s is not None else "until promoted")
    notes.append(f"step {index + 1}/{len(steps)}: {what} at {s.canary_weight}% ({how})")
    actions.append(BeginStep(index, now))
    return Transition(replace(s, step_index=index, step_started_at=now, last_verdict=None),
                      tuple(actions), "; ".join(notes))


def _begin_promotion(plan: Plan, s: RolloutState, now: float, note: str) -> Transition:
    if plan.spec.hooks(HookKind.CONFIRM_PROMOTION):
        return Transition(replace(s, phase=Phase.PROGRESSING, waiting=Wait.CONFIRM_PROMOTION, hook_retry_at=None,
                                  paused_at=None),
                          (CallWebhook(HookKind.CONFIRM_PROMOTION),), f"{note}; asking confirm-promotion webhooks")
    return Transition(replace(s, phase=Phase.PROMOTING, waiting=Wait.ACTIONS, paused_at=None),
                      promotion_actions(plan), f"{note}; promoting {plan.canary}")


def promotion_actions(plan: Plan) -> tuple[Action, ...]:
    """Bring the new version to full size, shift all traffic, drain the old, then stop it."""
    replicas = max(plan.stable_replicas, plan.spec.canary_replicas)
    return (ScaleVersion(plan.canary, replicas), SetWeights(((plan.stable_version, 0), (plan.canary, 100))),
            DrainVersion(plan.stable_version), StopVersion(plan.stable_version))


def rollback_actions(plan: Plan) -> tuple[Action, ...]:
    """Weight zero first (users stop reaching the canary at once), then drain and stop it."""
    actions: tuple[Action, ...] = (SetWeights(((plan.stable_version, 100), (plan.canary, 0))),
                                   DrainVersion(plan.canary), StopVersion(plan.canary))
    if plan.spec.hooks(HookKind.ROLLBACK):
        actions += (CallWebhook(HookKind.ROLLBACK),)
    return actions


def in_flight_actions(plan: Plan, s: RolloutState) -> tuple[Action, ...]:
    """Actions to carry out again after a restart (all idempotent): what the stored state awaits."""
    if s.phase is Phase.PENDING and s.waiting is Wait.CANARY_READY:
        return (ScaleVersion(plan.canary, plan.spec.canary_replicas),)
    if s.phase is Phase.PROMOTING:
        return promotion_actions(plan)
    if s.phase is Phase.ROLLING_BACK:
        return rollback_actions(plan)
    if s.phase in (Phase.PROGRESSING, Phase.PAUSED) and s.canary_weight:
        return (_weights(plan, s.canary_weight),)
    return ()


def _rollback(plan: Plan, s: RolloutState, why: str) -> Transition:
    return Transition(replace(s, phase=Phase.ROLLING_BACK, waiting=Wait.ACTIONS, paused_at=None, canary_weight=0),
                      rollback_actions(plan), why)


def _finish(plan: Plan, s: RolloutState, at: float) -> Transition:
    if s.phase is Phase.PROMOTING:
        hooks: tuple[Action, ...] = (CallWebhook(HookKind.POST_ROLLOUT),) if plan.spec.hooks(HookKind.POST_ROLLOUT) else ()
        return Transition(replace(s, phase=Phase.PROMOTED, waiting=Wait.NOTHING, canary_weight=100), hooks,
                          f"promoted: {plan.canary} serves all traffic, {plan.stable_version} stopped")
    return Transition(replace(s, phase=Phase.ROLLED_BACK, waiting=Wait.NOTHING),
                      reason=f"rolled back: {plan.stable_version} serves all traffic, {plan.canary} stopped "
                             f"(cause: {s.reason})")


def _running(plan: Plan, s: RolloutState, e: Event) -> Transition:
    """PROGRESSING and PAUSED."""
    if isinstance(e, VerdictEvent):
        if e.outcome is Outcome.FAIL:
            return _rollback(plan, s, f"analysis failed: {e.reason}")
        if s.phase is Phase.PAUSED or s.waiting is not Wait.NOTHING:
            return _note_verdict(s, e)
        step = plan.spec.steps[s.step_index]
        if (e.outcome is Outcome.PASS and step.kind is StepKind.ANALYSIS and s.step_started_at is not None
                and e.at - s.step_started_at >= (step.duration_s or 0.0)):
            return _enter(plan, s, s.step_index + 1, e.at, f"step {s.step_index + 1} passed: {e.reason}; ")
        return _note_verdict(s, e)
    if isinstance(e, WebhookResult):
        if e.hook is HookKind.CONFIRM_PROMOTION and s.waiting is Wait.CONFIRM_PROMOTION:
            if e.ok:
                return Transition(replace(s, phase=Phase.PROMOTING, waiting=Wait.ACTIONS, hook_retry_at=None),
                                  promotion_actions(plan), f"confirm-promotion webhooks agreed ({e.detail}); "
                                                           f"promoting {plan.canary}")
            return Transition(replace(s, hook_retry_at=e.at + HOOK_RETRY_S),
                              reason=f"held: confirm-promotion webhook refused: {e.detail}")
        return _informational_hook(s, e)
    if isinstance(e, Tick) and s.phase is Phase.PROGRESSING:
        if s.waiting is Wait.CONFIRM_PROMOTION:
            if s.hook_retry_at is not None and e.now >= s.hook_retry_at:
                return Transition(replace(s, hook_retry_at=None), (CallWebhook(HookKind.CONFIRM_PROMOTION),),
                                  "asking the confirm-promotion webhooks again")
            return Transition(s)
        step = plan.spec.steps[s.step_index]
        if (step.kind is StepKind.PAUSE and step.duration_s is not None and s.step_started_at is not None
                and e.now - s.step_started_at >= step.duration_s):
            return _enter(plan, s, s.step_index + 1, e.now, f"step {s.step_index + 1} pause of {step.duration_s:g}s over; ")
    return Transition(s)


def _note_verdict(s: RolloutState, e: VerdictEvent) -> Transition:
    # Record a verdict only when its outcome changes: the history stays readable at one look per 2 s.
    if s.last_verdict == e.outcome.value:
        return Transition(s)
    return Transition(replace(s, last_verdict=e.outcome.value), reason=f"verdict {e.outcome.value}: {e.reason}")


def _informational_hook(s: RolloutState, e: WebhookResult) -> Transition:
    return Transition(s, reason=f"{e.hook.value} webhook {'ok' if e.ok else 'failed'}: {e.detail}")


def _action_failed(plan: Plan, s: RolloutState, e: ActionFailed) -> Transition:
    if s.phase.terminal:
        return Transition(s, reason=f"clean-up action {e.action} failed: {e.error}")
    why = f"{e.action} failed: {e.error}"
    if s.phase is Phase.ROLLING_BACK:
        return Transition(replace(s, phase=Phase.FAILED, waiting=Wait.NOTHING),
                          reason=f"rollback incomplete: {why} (cause of the rollback: {s.reason})")
    if s.phase is Phase.PROMOTING:
        return Transition(replace(s, phase=Phase.FAILED, waiting=Wait.NOTHING),
                          reason=f"promotion incomplete: {why}")
    # Before promotion the safe place is stable: send the canary's users back, best effort.
    return Transition(replace(s, phase=Phase.FAILED, waiting=Wait.NOTHING, canary_weight=0),
                      rollback_actions(plan)[:3], f"{why}; sending all traffic back to {plan.stable_version}")


def _command(plan: Plan, s: RolloutState, e: Operator) -> Transition:
    who = e.actor + (f": {e.reason}" if e.reason else "")
    c = e.command
    if c is Command.RETRY:
        if s.phase not in (Phase.ROLLED_BACK, Phase.FAILED):
            raise ConflictError(f"only a rolled-back or failed rollout can be retried (this one is {s.phase.value})")
        return Transition(RolloutState(attempt=s.attempt + 1), reason=f"retry #{s.attempt + 1} by {who}")
    if s.phase.terminal:
        raise ConflictError(f"the rollout is {s.phase.value}; {c.value} is not possible")
    if c is Command.ABORT:
        if s.phase is Phase.ROLLING_BACK:
            raise ConflictError("the rollout is already rolling back")
        return _rollback(plan, s, f"aborted by {who}")
    if s.phase in (Phase.PROMOTING, Phase.ROLLING_BACK):
        raise ConflictError(f"the rollout is {s.phase.value}; only abort is possible")
    if c is Command.PAUSE:
        if s.phase is Phase.PAUSED:
            raise ConflictError("the rollout is already paused")
        return Transition(replace(s, phase=Phase.PAUSED, paused_at=e.at), reason=f"paused by {who}")
    if c is Command.RESUME:
        if s.phase is not Phase.PAUSED:
            raise ConflictError(f"the rollout is {s.phase.value}, not paused")
        return Transition(_resumed(s, e.at), reason=f"resumed by {who}")
    if s.phase is Phase.PENDING:
        raise ConflictError("the canary is not serving yet; nothing to promote")
    if s.waiting is Wait.CONFIRM_PROMOTION:
        raise ConflictError("waiting for the confirm-promotion webhooks; they decide")
    s = _resumed(s, e.at) if s.phase is Phase.PAUSED else s
    if c is Command.PROMOTE:
        return _enter(plan, s, s.step_index + 1, e.at, f"step {s.step_index + 1} promoted by {who}; ")
    return _begin_promotion(plan, replace(s, step_index=len(plan.spec.steps)), e.at,
                            f"fully promoted by {who} (skipping steps {s.step_index + 1}..{len(plan.spec.steps)})")


def _resumed(s: RolloutState, at: float) -> RolloutState:
    # The paused time does not count towards the step's duration.
    shift = at - s.paused_at if s.paused_at is not None else 0.0
    started = s.step_started_at + shift if s.step_started_at is not None else None
    return replace(s, phase=Phase.PROGRESSING, paused_at=None, step_started_at=started)
