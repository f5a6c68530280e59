"""The rollout state machine's paths, driven by events with made-up times."""

from __future__ import annotations

import pytest

from control_plane.domain import rollout as R
from control_plane.domain.judge import Outcome
from control_plane.errors import ConflictError

PLAN = R.Plan(R.parse_spec({"service": "cart", "version": "v2"}), stable_version="v1", stable_replicas=2)


def run(plan: R.Plan, events: list[R.Event], state: R.RolloutState | None = None):
    state = state or R.start(plan, 0).state
    log = []
    for e in events:
        t = R.transition(plan, state, e)
        state = t.state
        log.append(t)
    return state, log


def to_first_analysis(plan: R.Plan = PLAN):
    return run(plan, [R.Tick(1), R.ActionsDone(5)])


def verdict(outcome: Outcome, at: float, reason: str = "r") -> R.VerdictEvent:
    return R.VerdictEvent(outcome, reason, at)


def test_default_plan_walks_every_step_then_promotes_draining_before_stopping():
    state, log = to_first_analysis()
    assert log[0].actions == (R.ScaleVersion("v2", 1),)
    assert state.phase is R.Phase.PROGRESSING and state.step_index == 1 and state.canary_weight == 10
    assert log[1].actions == (R.SetWeights((("v1", 90), ("v2", 10))), R.BeginStep(1, 5))
    # A pass before the analysis' minimum duration does not advance.
    state, log = run(PLAN, [verdict(Outcome.PASS, 30)], state)
    assert state.step_index == 1
    state, log = run(PLAN, [verdict(Outcome.PASS, 66)], state)
    assert (state.step_index, state.canary_weight) == (3, 25)
    state, log = run(PLAN, [verdict(Outcome.PASS, 130), verdict(Outcome.PASS, 200)], state)
    assert state.phase is R.Phase.PROMOTING and state.waiting is R.Wait.ACTIONS
    assert log[-1].actions == (R.ScaleVersion("v2", 2), R.SetWeights((("v1", 0), ("v2", 100))),
                               R.DrainVersion("v1"), R.StopVersion("v1"))
    state, log = run(PLAN, [R.ActionsDone(205)], state)
    assert state.phase is R.Phase.PROMOTED and "v2 serves all traffic" in state.reason


def test_failed_verdict_rolls_back_weight_zero_first_then_stops_the_canary():
    state, _ = to_first_analysis()
    state, log = run(PLAN, [verdict(Outcome.FAIL, 12, "error_ratio failed: canary 3/60 vs stable 0/540")], state)
    assert state.phase is R.Phase.ROLLING_BACK
    assert log[0].actions == (R.SetWeights((("v1", 100), ("v2", 0))), R.DrainVersion("v2"), R.StopVersion("v2"))
    assert "error_ratio failed" in state.reason
    state, _ = run(PLAN, [R.ActionsDone(13)], state)
    assert state.phase is R.Phase.ROLLED_BACK and "cause: analysis failed: error_ratio" in state.reason


def test_inconclusive_holds_and_is_recorded_once():
    state, _ = to_first_analysis()
    state, log = run(PLAN, [verdict(Outcome.INCONCLUSIVE, t, "holding: unreachable") for t in (70, 72, 74)], state)
    assert state.phase is R.Phase.PROGRESSING and state.step_index == 1
    assert [t.changed for t in log] == [True, False, False]
    state, log = run(PLAN, [verdict(Outcome.PASS, 80)], state)
    assert state.step_index == 3


def test_pause_step_with_duration_and_until_promoted():
    plan = R.Plan(R.parse_spec({"service": "cart", "version": "v2",
                                "steps": [{"setWeight": 5}, {"pause": {"duration": "30s"}}, {"setWeight": 20},
                                          {"pause": {}}]}), "v1")
    state, _ = to_first_analysis(plan)
    state, _ = run(plan, [R.Tick(20)], state)
    assert state.step_index == 1
    state, _ = run(plan, [R.Tick(36)], state)
    assert (state.step_index, state.canary_weight) == (3, 20)
    state, _ = run(plan, [R.Tick(10_000), verdict(Outcome.PASS, 10_001)], state)
    assert state.step_index == 3 and state.phase is R.Phase.PROGRESSING
    state, log = run(plan, [R.Operator(R.Command.PROMOTE, 10_002, "ci")], state)
    assert state.phase is R.Phase.PROMOTING and "promoted by ci" in log[0].reason


def test_operator_pause_stops_the_clock_and_resume_restores_it():
    plan = R.Plan(R.parse_spec({"service": "cart", "version": "v2",
                                "steps": [{"setWeight": 5}, {"pause": {"duration": "30s"}}]}), "v1")
    state, _ = to_first_analysis(plan)
    state, _ = run(plan, [R.Operator(R.Command.PAUSE, 10, "alice"), R.Tick(100)], state)
    assert state.phase is R.Phase.PAUSED
    state, _ = run(plan, [R.Operator(R.Command.RESUME, 110, "alice"), R.Tick(120)], state)
    assert state.phase is R.Phase.PROGRESSING and state.step_started_at == 105
    state, _ = run(plan, [R.Tick(136)], state)
    assert state.phase is R.Phase.PROMOTING


def test_failed_verdict_rolls_back_even_while_paused():
    state, _ = to_first_analysis()
    state, _ = run(PLAN, [R.Operator(R.Command.PAUSE, 10), verdict(Outcome.FAIL, 12)], state)
    assert state.phase is R.Phase.ROLLING_BACK


def test_promote_full_skips_the_remaining_steps_and_is_recorded():
    state, _ = to_first_analysis()
    state, log = run(PLAN, [R.Operator(R.Command.PROMOTE_FULL, 9, "bob", "hotfix")], state)
    assert state.phase is R.Phase.PROMOTING
    assert "fully promoted by bob: hotfix" in log[0].reason


def test_abort_and_retry_start_again_from_the_first_step():
    state, _ = to_first_analysis()
    state, log = run(PLAN, [R.Operator(R.Command.ABORT, 9, "carol", "wrong build")], state)
    assert state.phase is R.Phase.ROLLING_BACK and "aborted by carol: wrong build" in state.reason
    state, _ = run(PLAN, [R.ActionsDone(10), R.Operator(R.Command.RETRY, 20, "carol")], state)
    assert state.phase is R.Phase.PENDING and state.attempt == 2 and state.step_index == 0
    state, log = run(PLAN, [R.Tick(21)], state)
    assert log[0].actions == (R.ScaleVersion("v2", 1),)


@pytest.mark.parametrize("phase, command", [
    (R.Phase.PROMOTED, R.Command.PROMOTE), (R.Phase.PROMOTED, R.Command.RETRY),
    (R.Phase.ROLLED_BACK, R.Command.ABORT), (R.Phase.PROGRESSING, R.Command.RESUME),
    (R.Phase.PROGRESSING, R.Command.RETRY), (R.Phase.PAUSED, R.Command.PAUSE),
    (R.Phase.PROMOTING, R.Command.PAUSE), (R.Phase.ROLLING_BACK, R.Command.ABORT),
    (R.Phase.PENDING, R.Command.PROMOTE),
])
def test_commands_a_phase_forbids_are_conflicts(phase, command):
    with pytest.raises(ConflictError):
        R.transition(PLAN, R.RolloutState(phase=phase, step_index=1), R.Operator(command, 1))


def test_two_promotes_on_the_same_state_give_one_step_forward_each_from_that_state():
    # Optimistic locking lives in the store; the machine is deterministic: same state, same result.
    state, _ = to_first_analysis()
    a = R.transition(PLAN, state, R.Operator(R.Command.PROMOTE, 9, "ci-1"))
    b = R.transition(PLAN, state, R.Operator(R.Command.PROMOTE, 9, "ci-2"))
    assert a.state.step_index == b.state.step_index == 3


def test_gating_webhooks_hold_and_are_asked_again():
    plan = R.Plan(R.parse_spec({"service": "cart", "version": "v2",
                                "webhooks": [{"type": "pre-rollout", "url": "http://ci/pre"},
                                             {"type": "confirm-promotion", "url": "http://ci/ok"},
                                             {"type": "post-rollout", "url": "http://ci/post"}],
                                "notifications": [{"url": "https://hooks.slack.com/x", "kind": "slack"}],
                                "steps": [{"setWeight": 50}, {"analysis": {"duration": "10s"}}]}), "v1")
    state, log = run(plan, [R.Tick(1)])
    assert log[0].actions == (R.CallWebhook(R.HookKind.PRE_ROLLOUT),)
    state, log = run(plan, [R.WebhookResult(R.HookKind.PRE_ROLLOUT, False, "HTTP 403", 2), R.Tick(5)], state)
    assert "held: pre-rollout webhook refused: HTTP 403" in state.reason and state.waiting is R.Wait.PRE_ROLLOUT
    state, log = run(plan, [R.Tick(13)], state)
    assert log[0].actions == (R.CallWebhook(R.HookKind.PRE_ROLLOUT),)
    state, log = run(plan, [R.WebhookResult(R.HookKind.PRE_ROLLOUT, True, "HTTP 200", 14), R.ActionsDone(20)], state)
    assert state.phase is R.Phase.PROGRESSING
    assert any(isinstance(a, R.Notify) and a.phase is R.Phase.PROGRESSING for a in log[1].actions)
    state, log = run(plan, [verdict(Outcome.PASS, 31)], state)
    assert state.waiting is R.Wait.CONFIRM_PROMOTION and log[0].actions[-1] == R.CallWebhook(R.HookKind.CONFIRM_PROMOTION)
    with pytest.raises(ConflictError):
        R.transition(plan, state, R.Operator(R.Command.PROMOTE_FULL, 32))
    state, _ = run(plan, [R.WebhookResult(R.HookKind.CONFIRM_PROMOTION, False, "HTTP 409", 32), R.Tick(33)], state)
    assert state.phase is R.Phase.PROGRESSING
    state, log = run(plan, [R.Tick(43)], state)
    assert log[0].actions == (R.CallWebhook(R.HookKind.CONFIRM_PROMOTION),)
    state, _ = run(plan, [R.WebhookResult(R.HookKind.CONFIRM_PROMOTION, True, "HTTP 200", 44)], state)
    assert state.phase is R.Phase.PROMOTING
    state, log = run(plan, [R.ActionsDone(50)], state)
    assert state.phase is R.Phase.PROMOTED
    assert log[0].actions[0] == R.CallWebhook(R.HookKind.POST_ROLLOUT)
    assert isinstance(log[0].actions[-1], R.Notify)


def test_action_failures_fail_the_rollout_and_say_why():
    state, _ = run(PLAN, [R.Tick(1), R.ActionFailed("scale v2", "instance never became ready", 30)])
    assert state.phase is R.Phase.FAILED
    assert "scale v2 failed: instance never became ready" in state.reason
    rolling, _ = run(PLAN, [R.Tick(1), R.ActionsDone(2), verdict(Outcome.FAIL, 3),
                            R.ActionFailed("set weights", "haproxy: socket refused", 4)])
    assert rolling.phase is R.Phase.FAILED and "rollback incomplete" in rolling.reason


def test_in_flight_actions_are_redone_after_a_restart():
    state, _ = to_first_analysis()
    assert R.in_flight_actions(PLAN, state) == (R.SetWeights((("v1", 90), ("v2", 10))),)
    promoting, _ = run(PLAN, [R.Operator(R.Command.PROMOTE_FULL, 9)], state)
    assert R.in_flight_actions(PLAN, promoting) == R.promotion_actions(PLAN)
    assert R.in_flight_actions(PLAN, R.RolloutState(phase=R.Phase.PROMOTED)) == ()


def test_nothing_is_recorded_for_ticks_that_change_nothing():
    state, _ = to_first_analysis()
    t = R.transition(PLAN, state, R.Tick(50))
    assert not t.changed and t.state == state
