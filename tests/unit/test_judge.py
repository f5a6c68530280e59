"""The judge's behaviour on hand-made counts: decisions, holds and the evidence they carry."""

from __future__ import annotations

import math
import random

import pytest

from control_plane.domain import judge as J

INF = math.inf
CFG = J.JudgeConfig()


def obs(start: float, c_req: int, c_err: int, s_req: int, s_err: int, *, dt: float = 2.0,
        c_hist: tuple = (), s_hist: tuple = ()) -> J.Observation:
    return J.Observation(start, start + dt, J.ArmCounts(c_req, c_err, c_hist), J.ArmCounts(s_req, s_err, s_hist),
                         queries=("q_requests", "q_errors"))


def fold(observations: list[J.Observation], config: J.JudgeConfig = CFG) -> J.JudgeState:
    state = J.begin_step(J.JudgeState(), observations[0].start)
    for o in observations:
        state = J.observe(state, o, config)
    return state


def test_three_canary_errors_against_a_clean_stable_fail_at_ten_percent():
    state = fold([obs(0, 20, 1, 180, 0), obs(2, 20, 1, 180, 0)])
    assert state.failed_check is None
    state = J.observe(state, obs(4, 20, 1, 180, 0), CFG)
    assert state.failed_check == J.ERRORS
    verdict = J.judge(state, CFG, now=6.5)
    assert verdict.outcome is J.Outcome.FAIL
    err = next(c for c in verdict.checks if c.name == J.ERRORS)
    assert (err.canary_events, err.canary_requests, err.stable_events, err.stable_requests) == (3, 60, 0, 540)
    assert err.log_e_value >= err.log_threshold == pytest.approx(math.log(2 / 0.01))
    d = verdict.to_dict()
    assert d["checks"][0]["canary"] == {"requests": 60, "events": 3, "ratio": 0.05}
    assert d["window"] == {"start": 0, "end": 6}
    assert d["queries"] == ["q_requests", "q_errors"]
    assert "3/60" in verdict.reason and "0/540" in verdict.reason


def test_a_failure_is_latched_even_when_later_data_look_fine_or_go_missing():
    state = fold([obs(i * 2, 20, 2, 180, 0) for i in range(3)])
    assert state.failed_check == J.ERRORS
    state = fold([obs(0, 20, 2, 180, 0)] * 0 + [obs(i * 2, 20, 2, 180, 0) for i in range(3)]
                 + [obs(6 + i * 2, 20, 0, 180, 5) for i in range(20)])
    assert state.failed_check == J.ERRORS
    missing = J.Missing(J.MissingKind.UNREACHABLE, "connection refused", at=100)
    assert J.judge(state, CFG, now=100, missing=missing).outcome is J.Outcome.FAIL


def test_errors_spread_like_traffic_do_not_fail():
    # Canary 10% of requests and 10% of errors: exactly what "no worse" predicts.
    state = fold([obs(i * 2, 20, 1, 180, 9) for i in range(200)])
    assert state.failed_check is None
    assert state.errors.log_e() < 0


def test_within_the_margin_is_tolerated_at_high_traffic():
    # Canary 20% worse than stable (margin 25%), 1.2M requests: no rollback.
    state = fold([obs(i * 2, 2000, 24, 18000, 180) for i in range(30)])
    assert state.failed_check is None


def test_beyond_the_margin_is_found_at_high_traffic():
    # Canary twice as bad as stable: a subtle regression, found with enough data.
    state = fold([obs(i * 2, 2000, 40, 18000, 180) for i in range(30)])
    assert state.failed_check == J.ERRORS


def test_the_share_comes_from_each_interval():
    # 3 canary errors when the canary held 50% of requests are no evidence; at 1% they are.
    at_half = fold([obs(i * 2, 100, 1, 100, 1) for i in range(3)])
    assert at_half.failed_check is None
    at_one = fold([obs(i * 2, 2, 1, 198, 0) for i in range(3)])
    assert at_one.failed_check == J.ERRORS


def test_intervals_where_an_arm_served_nothing_carry_no_evidence():
    state = fold([obs(i * 2, 0, 0, 200, 3) for i in range(10)] + [obs(20 + i * 2, 20, 0, 0, 0) for i in range(10)])
    assert state.errors.log_e() == pytest.approx(0.0)
    assert state.errors.intervals == 20


@pytest.mark.parametrize("bad, problem", [
    (obs(0, 10, 11, 100, 0), "more errors"),
    (obs(0, -5, 0, 100, 0), "backwards"),
    (J.Observation(4, 4, J.ArmCounts(1, 0), J.ArmCounts(1, 0)), "empty"),
    (obs(0, 10, 0, 100, 0, c_hist=((0.1, 5), (INF, 10)), s_hist=((0.1, 50), (0.2, 80), (INF, 100))), "different"),
    (obs(0, 10, 0, 100, 0, c_hist=((0.1, 5), (INF, 10))), "only one arm"),
    (obs(0, 10, 0, 100, 0, c_hist=((0.1, 8), (INF, 5)), s_hist=((0.1, 50), (INF, 100))), "cumulative"),
    (obs(0, 10, 0, 100, 0, c_hist=((0.1, 5), (0.2, 10)), s_hist=((0.1, 50), (0.2, 100))), "+Inf"),
])
def test_inconsistent_counts_are_refused(bad, problem):
    assert problem in (J.validate(bad) or "")
    with pytest.raises(ValueError):
        J.observe(J.JudgeState(), bad, CFG)


def test_never_passes_without_enough_canary_traffic_even_after_the_pause():
    state = fold([obs(i * 2, 2, 0, 198, 0) for i in range(30)])  # 60 canary requests in 60 s
    verdict = J.judge(state, CFG, now=60.5, min_duration_s=60)
    assert verdict.outcome is J.Outcome.INCONCLUSIVE
    assert verdict.missing == "too_little_traffic"
    assert "60 of 200" in verdict.reason


def test_passes_with_enough_traffic_after_the_pause_and_not_before():
    state = fold([obs(i * 2, 20, 0, 180, 0) for i in range(30)])
    assert J.judge(state, CFG, now=40, min_duration_s=60).outcome is J.Outcome.CONTINUE
    verdict = J.judge(state, CFG, now=60.5, min_duration_s=60)
    assert verdict.outcome is J.Outcome.PASS
    assert verdict.step_canary_requests == 600


def test_stale_data_unreachable_source_and_no_data_hold():
    state = fold([obs(i * 2, 20, 0, 180, 0) for i in range(30)])
    stale = J.judge(state, CFG, now=60 + CFG.max_staleness_s + 1, min_duration_s=60)
    assert (stale.outcome, stale.missing) == (J.Outcome.INCONCLUSIVE, "stale")
    gone = J.judge(state, CFG, now=61, min_duration_s=60,
                   missing=J.Missing(J.MissingKind.UNREACHABLE, "prometheus: connection refused", at=61))
    assert gone.outcome is J.Outcome.INCONCLUSIVE and "connection refused" in gone.reason
    empty = J.judge(J.JudgeState(), CFG, now=5)
    assert (empty.outcome, empty.missing) == (J.Outcome.INCONCLUSIVE, "no_data")


def test_a_new_step_needs_its_own_traffic_but_keeps_the_evidence():
    state = fold([obs(i * 2, 20, 1 if i in (3, 9) else 0, 180, 0) for i in range(30)])
    before = state.errors.log_e()
    state = J.begin_step(state, 60)
    assert state.step_canary_requests == 0 and state.errors.log_e() == before
    assert J.judge(state, CFG, now=120, min_duration_s=30).outcome is J.Outcome.INCONCLUSIVE


def hist(counts: list[int]) -> tuple:
    edges = (0.025, 0.05, 0.1, 0.25, INF)
    acc, out = 0, []
    for le, c in zip(edges, counts):
        acc += c
        out.append((le, float(acc)))
    return tuple(out)


def test_latency_edge_comes_from_stable_and_slow_canary_fails():
    warm = obs(0, 20, 0, 180, 0, c_hist=hist([10, 8, 2, 0, 0]), s_hist=hist([90, 80, 9, 1, 0]))
    state = fold([warm])
    assert state.latency.intervals == 0  # no edge before stable has history
    # Stable p95 edge is 0.1 s; the canary now answers mostly above it.
    for i in range(1, 6):
        state = J.observe(state, obs(i * 2, 20, 0, 180, 0, c_hist=hist([0, 2, 4, 14, 0]),
                                     s_hist=hist([90, 80, 9, 1, 0])), CFG)
    assert state.latency.edge_s == 0.1
    assert state.failed_check == J.LATENCY
    verdict = J.judge(state, CFG, now=12.5)
    assert verdict.outcome is J.Outcome.FAIL and "slower than 0.1s" in verdict.reason


def test_same_latency_distribution_does_not_fail():
    rng = random.Random(7)
    state = J.JudgeState()
    probs = [0.5, 0.3, 0.15, 0.04, 0.01]
    for i in range(300):
        def draw(n: int) -> tuple:
            counts = [0] * 5
            for _ in range(n):
                x, k = rng.random(), 0
                while x > probs[k] and k < 4:
                    x -= probs[k]
                    k += 1
                counts[k] += 1
            return hist(counts)
        state = J.observe(state, obs(i * 2, 10, 0, 90, 0, c_hist=draw(10), s_hist=draw(90)), CFG)
    assert state.failed_check is None


def test_fixed_edge_and_disabled_checks():
    config = J.JudgeConfig(latency_edge_s=0.05, check_errors=False)
    assert config.checks() == (J.LATENCY,)
    assert config.log_threshold() == pytest.approx(math.log(100))
    state = fold([obs(0, 20, 20, 180, 0, c_hist=hist([20, 0, 0, 0, 0]), s_hist=hist([170, 10, 0, 0, 0]))], config)
    assert state.latency.intervals == 1 and state.errors.intervals == 0
    assert state.failed_check is None  # errors are not judged at all


def test_mixture_is_a_supermartingale_under_the_null():
    # Exact expectation of one interval's factor under the null boundary, for every share and size.
    for p in (0.01, 0.1, 0.25, 0.5, 0.9):
        for n in (1, 3, 10):
            theta0 = J.share_to_theta(p, 1.25)
            expected = 0.0
            for x in range(n + 1):
                prob = math.comb(n, x) * theta0 ** x * (1 - theta0) ** (n - x)
                test = J.update_test(J.TestState(), margin=0.25, canary_events=x, stable_events=n - x,
                                     canary_requests=int(p * 1000), stable_requests=1000 - int(p * 1000))
                expected += prob * math.exp(test.log_e())
            assert expected <= 1.0 + 1e-9


def test_extra_range_checks():
    s = J.RangeCheckState()
    for v in (0.9, 0.95, 0.99):
        s = J.range_check(s, v, low=None, high=0.8, failure_limit=3)
    assert s.failed
    ok = J.range_check(J.RangeCheckState(), None, low=0, high=1, failure_limit=1)
    assert not ok.failed and ok.last_value is None
    state = fold([obs(i * 2, 20, 0, 180, 0) for i in range(30)])
    passing = J.judge(state, CFG, now=60.5, min_duration_s=60)
    assert J.combine(passing, {"cpu": s}).outcome is J.Outcome.FAIL
    assert J.combine(passing, {"cpu": ok}).outcome is J.Outcome.INCONCLUSIVE
    assert J.combine(passing, {}).outcome is J.Outcome.PASS
