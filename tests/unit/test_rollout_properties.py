"""Invariants of the state machine under arbitrary event sequences (Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.domain import rollout as R
from control_plane.domain.judge import Outcome
from control_plane.errors import ConflictError

PLAN = R.Plan(R.parse_spec({"service": "cart", "version": "v2",
                            "webhooks": [{"type": "confirm-promotion", "url": "http://ci/ok"},
                                         {"type": "pre-rollout", "url": "http://ci/pre"}],
                            "steps": [{"setWeight": 10}, {"analysis": {"duration": "5s"}}, {"pause": {"duration": "3s"}},
                                      {"setWeight": 40}, {"pause": {}}]}), "v1", 2)

events = st.one_of(
    st.builds(lambda: "tick"),
    st.sampled_from([Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.CONTINUE]),
    st.sampled_from(list(R.Command)),
    st.sampled_from([(h, ok) for h in R.HookKind for ok in (True, False)]),
    st.sampled_from(["done", "failed"]),
)


def make(kind: object, at: float) -> R.Event:
    if kind == "tick":
        return R.Tick(at)
    if kind == "done":
        return R.ActionsDone(at)
    if kind == "failed":
        return R.ActionFailed("set weights", "router down", at)
    if isinstance(kind, Outcome):
        return R.VerdictEvent(kind, "r", at)
    if isinstance(kind, R.Command):
        return R.Operator(kind, at, "op")
    hook, ok = kind  # type: ignore[misc]
    return R.WebhookResult(hook, ok, "d", at)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=60))
def test_invariants_hold_for_any_event_sequence(seq):
    state = R.start(PLAN, 0).state
    for i, kind in enumerate(seq):
        before = state
        try:
            t = R.transition(PLAN, state, make(kind, float(i * 2 + 1)))
        except ConflictError:
            continue  # refused commands change nothing
        state = t.state
        for a in t.actions:
            if isinstance(a, R.SetWeights):
                assert sum(a.as_dict().values()) == 100
                assert set(a.as_dict()) == {"v1", "v2"}
        if t.actions and isinstance(t.actions[0], R.SetWeights) and state.phase is R.Phase.ROLLING_BACK \
                and before.phase is not R.Phase.ROLLING_BACK:
            assert t.actions[0].as_dict()["v2"] == 0  # users leave the canary before anything else
        if state.phase in (R.Phase.ROLLING_BACK, R.Phase.ROLLED_BACK):
            assert state.canary_weight == 0
        if any(isinstance(a, R.StopVersion) and a.version == "v1" for a in t.actions):
            kinds = [type(a) for a in t.actions]
            assert kinds.index(R.DrainVersion) < kinds.index(R.StopVersion)
            assert state.phase is R.Phase.PROMOTING
        if before.phase.terminal and not (isinstance(kind, R.Command) and kind is R.Command.RETRY):
            assert state.phase is before.phase  # only retry leaves an end state
        if t.changed:
            assert t.reason and state.reason == t.reason
        assert 0 <= state.step_index <= len(PLAN.spec.steps)
