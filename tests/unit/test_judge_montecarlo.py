"""Monte Carlo of the judge (seeded, a few seconds): false rollbacks stay under alpha however often it
looks, and bad canaries are caught in seconds where Flagger's defaults take minutes.

Larger runs and the printed figures: ``python benchmarks/judge_simulation.py``.
"""

from __future__ import annotations

from control_plane.domain.judge import JudgeConfig
from control_plane.rollouts.simulation import Flagger, Latency, Scenario, many

# A whole default rollout (10% -> 25% -> 50%), traffic swinging +-50% every 90 s, judge every 2 s.
STEPS = ((0.10, 60.0), (0.25, 60.0), (0.50, 60.0))


def test_false_rollbacks_on_good_canaries_stay_under_alpha():
    good = Scenario(name="good", weights=STEPS, wave=0.5, stable_error=0.01, canary_error=0.01)
    summary = many(good, JudgeConfig(alpha=0.01), runs=250, seed=10_000)
    assert summary.rolled_back <= 3  # 1% of 250 is 2.5; Ville's bound is conservative in practice


def test_false_rollback_rate_is_calibrated_at_the_null_boundary():
    # alpha = 0.2 makes violations visible with few runs: the canary is exactly at the margin
    # (25% more errors than stable), on errors only, while traffic and weights change.
    boundary = Scenario(name="boundary", weights=STEPS, wave=0.5, stable_error=0.02, canary_error=0.025,
                        latency=False)
    summary = many(boundary, JudgeConfig(alpha=0.2, check_latency=False), runs=200, seed=20_000)
    assert summary.rate <= 0.2


def test_s1_is_rolled_back_in_seconds_with_few_failed_requests_and_flagger_takes_minutes():
    s1 = Scenario(name="S1", weights=((0.10, 400.0),), canary_error=0.05, stable_error=0.0)
    summary = many(s1, JudgeConfig(), runs=60, seed=30_000, flagger=Flagger(threshold=5))
    assert summary.rolled_back == 60
    assert summary.median_time_s is not None and summary.median_time_s < 15
    assert summary.worst_time_s is not None and summary.worst_time_s < 30
    assert summary.median_failed is not None and summary.median_failed < 10
    # Flagger: 1-minute checks, 99% success floor, rollback after 5 failed checks -> 6 minutes.
    assert summary.flagger_median_time_s == 360.0
    assert summary.flagger_median_failed is not None and summary.flagger_median_failed > 100


def test_latency_regression_is_rolled_back_on_the_latency_check():
    slow = Scenario(name="latency", weights=((0.10, 400.0),), canary_error=0.0,
                    canary_latency=Latency(added_s=0.6))
    summary = many(slow, JudgeConfig(), runs=30, seed=40_000, flagger=Flagger(threshold=5))
    assert summary.rolled_back == 30
    assert summary.median_time_s is not None and summary.median_time_s < 10
    assert summary.flagger_median_time_s == 360.0


def test_a_latency_regression_below_flaggers_absolute_threshold_is_still_caught():
    # +50 ms on a 20 ms service: p99 stays under Flagger's 500 ms, so it never notices.
    subtle = Scenario(name="latency-50ms", weights=((0.10, 300.0),), canary_error=0.0,
                      canary_latency=Latency(added_s=0.05))
    summary = many(subtle, JudgeConfig(), runs=20, seed=50_000, flagger=Flagger(threshold=5))
    assert summary.rolled_back == 20
    assert summary.flagger_rolled_back == 0
