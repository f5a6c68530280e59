"""The canary judge: an anytime-valid sequential test of "the canary is no worse than stable".

Pure: counts in, verdicts out; stdlib only. The controller may look as often as it likes (every
scrape) without inflating false rollbacks, because the statistic is a test supermartingale and a
rollback is Ville's inequality at work: under the null it ever exceeds 1/alpha with probability at
most alpha, however often, and however long, it is watched.

How counts become a test (see docs/ROLLOUTS.md for the long form)
----------------------------------------------------------------
Over one interval (two consecutive scrapes) the canary serves ``n_c`` requests and stable ``n_s``.
Take any kind of "bad event" (an error; a request slower than an edge taken from stable's latency
histogram). If the canary's event rate is ``rho`` times stable's, then, given how many events
happened in the interval, each one lands on the canary with probability

    theta(rho, p) = p * rho / (p * rho + 1 - p),      p = n_c / (n_c + n_s)

(the canary's share of the interval's requests; Poisson model, exact when conditioning on counts).
The null is "the canary is no worse beyond the margin": ``rho <= rho0 = 1 + margin``. For one
alternative ``rho_g > rho0`` the likelihood ratio of the interval's split,

    (theta_g / theta_0) ** x * ((1 - theta_g) / (1 - theta_0)) ** (n - x)

has expectation <= 1 under every rho <= rho0 (it is increasing in the canary's share), so the
product over intervals is a test supermartingale. A fixed mixture over a grid of alternatives
(``RATIO_GRID``) is one too, and adapts to the size of the regression without tuning: a release
that fails outright is caught by the far end of the grid after a handful of canary errors, a subtle
one by the near end after more data. The share ``p`` is recomputed every interval, so traffic that
varies over time and the weight changes between steps are handled by construction, and one test
runs for the whole rollout (its error budget is not spent again at every step).

With Bernoulli requests and ``rho0 == 1`` the exact conditional law of ``x`` is hypergeometric,
which is smaller in the convex order than the binomial used here, and the ratio is convex in
``x``, so the test stays conservative; with a margin it is an approximation whose error shrinks
with the error rate (negligible below a few percent).

Verdicts
--------
- ``FAIL`` as soon as any check's e-value crosses its threshold (alpha split evenly across checks).
- ``PASS`` only when the step's minimum duration has elapsed, the canary served at least
  ``min_canary_requests`` in this step (absence of detection is evidence only when the test had
  a fair chance), the data are fresh, and no check has failed.
- ``INCONCLUSIVE`` on an unreachable source, a gap, stale or inconsistent data, or too little
  canary traffic once the duration has elapsed. It holds the rollout; it never passes.
- ``CONTINUE`` while watching with good data and nothing decided yet.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# Alternatives of the mixture: the canary's event rate as a multiple of rho0. Wide on purpose: the
# near end finds a 2x regression at high traffic, the far end a release that fails outright.
RATIO_GRID: tuple[float, ...] = (1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1000.0, 10000.0)
# Prior weights of the grid (sum to 1). Heavier at the far end: a new release that breaks
# something usually breaks it outright, and that is the case where every second costs users.
RATIO_WEIGHTS: tuple[float, ...] = (0.05, 0.05, 0.05, 0.05, 0.08, 0.12, 0.15, 0.2, 0.25)

ERRORS = "error_ratio"
LATENCY = "latency"


class Outcome(enum.Enum):
    """What the judge concludes right now."""

    PASS = "pass"  # enough canary traffic, duration elapsed, fresh data, no check failed
    FAIL = "fail"  # a check's e-value crossed 1/alpha: the canary is worse than stable beyond the margin
    INCONCLUSIVE = "inconclusive"  # no usable evidence (unreachable, gap, stale, too little traffic): hold
    CONTINUE = "continue"  # watching, data fine, nothing decided yet


class MissingKind(enum.Enum):
    """Why an interval's counts could not be used."""

    UNREACHABLE = "unreachable"  # the metrics source did not answer
    NO_DATA = "no_data"  # the queries returned no series for an arm
    GAP = "gap"  # counts went backwards (restart, counter reset) or a scrape is missing
    INVALID = "invalid"  # inconsistent counts (more errors than requests, non-cumulative buckets)


@dataclass(frozen=True)
class JudgeConfig:
    """Tunables of the judge (from the rollout spec's ``analysis`` section)."""

    alpha: float = 0.01  # bound on the probability of rolling back a canary that is no worse
    error_margin: float = 0.25  # tolerated relative excess of the canary's error rate
    latency_margin: float = 0.25  # tolerated relative excess of the canary's share of slow requests
    latency_quantile: float = 0.95  # "slow" = slower than the bucket edge at stable's quantile
    latency_edge_s: float | None = None  # fixed "slow" edge instead of stable's quantile
    min_stable_for_edge: int = 100  # stable requests needed before an edge can be taken from them
    min_canary_requests: int = 200  # canary requests per step before a pass
    max_staleness_s: float = 30.0  # newest counts older than this: inconclusive
    check_errors: bool = True
    check_latency: bool = True

    def checks(self) -> tuple[str, ...]:
        return tuple(name for name, on in ((ERRORS, self.check_errors), (LATENCY, self.check_latency)) if on)

    def log_threshold(self) -> float:
        """log(1/alpha_check): alpha split evenly (Bonferroni) over the enabled checks."""
        n = max(1, len(self.checks()))
        return math.log(n / self.alpha)


@dataclass(frozen=True)
class ArmCounts:
    """Increase of one arm's counters over one interval.

    ``buckets`` are cumulative histogram counts ``(le, count)`` in increasing ``le`` order, the last
    one ``+inf`` (Prometheus ``_bucket`` semantics); empty when latency is not measured.
    """

    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Observation:
    """Both arms' increases over the same interval ``[start, end]`` (unix seconds)."""

    start: float
    end: float
    canary: ArmCounts
    stable: ArmCounts
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Missing:
    """An interval whose counts are unusable, and why."""

    kind: MissingKind
    detail: str
    at: float
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestState:
    """One running mixture test: log likelihood ratio per alternative plus the counts behind it."""

    log_lr: tuple[float, ...] = tuple(0.0 for _ in RATIO_GRID)
    canary_events: int = 0
    stable_events: int = 0
    canary_requests: int = 0
    stable_requests: int = 0
    intervals: int = 0
    edge_s: float | None = None  # latency only: the last "slow" edge used

    def log_e(self) -> float:
        """log of the mixture e-value: log sum_g w_g exp(L_g), computed stably."""
        top = max(self.log_lr)
        if top == -math.inf:
            return -math.inf
        return top + math.log(sum(w * math.exp(v - top) for w, v in zip(RATIO_WEIGHTS, self.log_lr)))


@dataclass(frozen=True)
class JudgeState:
    """Everything the judge remembers across intervals of one rollout (immutable; fold with observe)."""

    errors: TestState = field(default_factory=TestState)
    latency: TestState = field(default_factory=TestState)
    stable_hist: tuple[tuple[float, float], ...] = ()  # stable's cumulative buckets, whole rollout
    first_start: float | None = None
    last_end: float | None = None
    step_started_at: float | None = None
    step_canary_requests: int = 0
    step_stable_requests: int = 0
    failed_check: str | None = None  # latched: once failed, always failed
    failed_at: float | None = None
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckEvidence:
    """What one check saw and concluded."""

    name: str
    outcome: Outcome
    log_e_value: float
    log_threshold: float
    margin: float
    canary_requests: int
    canary_events: int
    stable_requests: int
    stable_events: int
    intervals: int
    edge_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def rate(events: int, requests: int) -> float | None:
            return round(events / requests, 6) if requests else None

        return {"name": self.name, "outcome": self.outcome.value,
                "log_e_value": _finite(self.log_e_value), "log_threshold": round(self.log_threshold, 4),
                "e_value": _finite(math.exp(min(self.log_e_value, 700.0))) if self.log_e_value > -math.inf else 0.0,
                "threshold": round(math.exp(self.log_threshold), 4), "margin": self.margin,
                "canary": {"requests": self.canary_requests, "events": self.canary_events,
                           "ratio": rate(self.canary_events, self.canary_requests)},
                "stable": {"requests": self.stable_requests, "events": self.stable_events,
                           "ratio": rate(self.stable_events, self.stable_requests)},
                "intervals": self.intervals, "edge_s": self.edge_s}


@dataclass(frozen=True)
class Verdict:
    """The judge's conclusion at ``at``, with the evidence an operator needs to trust it."""

    outcome: Outcome
    reason: str
    at: float
    window: tuple[float | None, float | None]  # the rollout's analysed window [first start, last end]
    checks: tuple[CheckEvidence, ...] = ()
    step_canary_requests: int = 0
    min_canary_requests: int = 0
    queries: tuple[str, ...] = ()
    missing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "reason": self.reason, "at": self.at,
                "window": {"start": self.window[0], "end": self.window[1]},
                "checks": [c.to_dict() for c in self.checks],
                "step_canary_requests": self.step_canary_requests,
                "min_canary_requests": self.min_canary_requests,
                "queries": list(self.queries), "missing": self.missing}


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


# --- the test ------------------------------------------------------------------------------------

def share_to_theta(p: float, rho: float) -> float:
    """Probability that one event lands on the canary, given its request share p and rate ratio rho."""
    return p * rho / (p * rho + 1.0 - p)


def update_test(test: TestState, *, margin: float, canary_events: int, stable_events: int,
                canary_requests: int, stable_requests: int, edge_s: float | None = None) -> TestState:
    """Fold one interval's counts into a test. An interval where an arm served nothing carries no
    information about the split and leaves the statistic unchanged (its counts are still recorded)."""
    log_lr = test.log_lr
    n = canary_events + stable_events
    if n > 0 and canary_requests > 0 and stable_requests > 0:
        p = canary_requests / (canary_requests + stable_requests)
        rho0 = 1.0 + margin
        theta0 = share_to_theta(p, rho0)
        log_lr = tuple(v + _log_factor(p, rho0 * g, theta0, canary_events, stable_events)
                       for v, g in zip(log_lr, RATIO_GRID))
    return TestState(log_lr=log_lr, canary_events=test.canary_events + canary_events,
                     stable_events=test.stable_events + stable_events,
                     canary_requests=test.canary_requests + canary_requests,
                     stable_requests=test.stable_requests + stable_requests,
                     intervals=test.intervals + 1, edge_s=edge_s if edge_s is not None else test.edge_s)


def _log_factor(p: float, rho: float, theta0: float, x: int, y: int) -> float:
    theta = share_to_theta(p, rho)
    out = 0.0
    if x:
        out += x * math.log(theta / theta0)
    if y:
        out += y * (math.log1p(-theta) - math.log1p(-theta0))
    return out


# --- histograms ----------------------------------------------------------------------------------

def _validate_buckets(buckets: Sequence[tuple[float, float]], requests: float) -> str | None:
    prev_le, prev_c = -math.inf, 0.0
    for le, c in buckets:
        if le <= prev_le:
            return "histogram bucket edges are not increasing"
        if c < prev_c - 1e-9:
            return "histogram bucket counts are not cumulative"
        prev_le, prev_c = le, c
    if buckets and not math.isinf(buckets[-1][0]):
        return "histogram has no +Inf bucket"
    if buckets and abs(buckets[-1][1] - requests) > max(2.0, 0.02 * requests):
        # Counter and histogram are scraped together (a request ending mid-scrape may sit in one and
        # not yet the other); a larger mismatch means the two come from different windows.
        return f"histogram count {buckets[-1][1]:.0f} disagrees with request count {requests:.0f}"
    return None


def add_buckets(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Sum two cumulative histograms with the same edges (either may be empty)."""
    if not a:
        return tuple(b)
    if not b:
        return tuple(a)
    return tuple((le, ca + cb) for (le, ca), (_, cb) in zip(a, b))


def quantile_edge(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The smallest finite bucket edge with at least a fraction q of the histogram at or below it."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    for le, c in buckets:
        if math.isinf(le):
            return None
        if c >= q * total:
            return le
    return None


def count_above(buckets: Sequence[tuple[float, float]], edge: float) -> float:
    """How many observations of a cumulative histogram lie above ``edge`` (an exact bucket edge)."""
    total = buckets[-1][1] if buckets else 0.0
    for le, c in buckets:
        if le == edge:
            return total - c
    return 0.0


# --- folding observations and judging ------------------------------------------------------------

def validate(obs: Observation) -> str | None:
    """Why an observation cannot be used, or None."""
    if obs.end <= obs.start:
        return "interval is empty or reversed"
    for arm, counts in (("canary", obs.canary), ("stable", obs.stable)):
        if counts.requests < 0 or counts.errors < 0:
            return f"{arm} counters went backwards (a restart or counter reset)"
        if counts.errors > counts.requests + 1e-9:
            return f"{arm} has more errors ({counts.errors:.0f}) than requests ({counts.requests:.0f})"
        problem = _validate_buckets(counts.buckets, counts.requests)
        if problem:
            return f"{arm}: {problem}"
    if bool(obs.canary.buckets) != bool(obs.stable.buckets):
        return "only one arm has a latency histogram"
    if obs.canary.buckets and [le for le, _ in obs.canary.buckets] != [le for le, _ in obs.stable.buckets]:
        return "canary and stable histograms have different bucket edges"
    return None


def begin_step(state: JudgeState, at: float) -> JudgeState:
    """Start a new step: per-step counts restart; the tests carry on (one error budget per rollout)."""
    return replace(state, step_started_at=at, step_canary_requests=0, step_stable_requests=0)


def observe(state: JudgeState, obs: Observation, config: JudgeConfig) -> JudgeState:
    """Fold one interval into the state. Raises ValueError if it is invalid (check ``validate`` first)."""
    problem = validate(obs)
    if problem:
        raise ValueError(problem)
    cr, sr = _whole(obs.canary.requests), _whole(obs.stable.requests)
    errors, latency = state.errors, state.latency
    if config.check_errors:
        errors = update_test(errors, margin=config.error_margin, canary_events=_whole(obs.canary.errors),
                             stable_events=_whole(obs.stable.errors), canary_requests=cr, stable_requests=sr)
    if config.check_latency and obs.canary.buckets:
        # The edge is chosen from data before this interval only (a predictable choice keeps the
        # supermartingale valid); until stable has served enough, the interval is only recorded.
        edge = config.latency_edge_s
        if edge is None and state.stable_hist and state.stable_hist[-1][1] >= config.min_stable_for_edge:
            edge = quantile_edge(state.stable_hist, config.latency_quantile)
        if edge is not None and any(le == edge for le, _ in obs.canary.buckets):
            latency = update_test(latency, margin=config.latency_margin,
                                  canary_events=_whole(count_above(obs.canary.buckets, edge)),
                                  stable_events=_whole(count_above(obs.stable.buckets, edge)),
                                  canary_requests=cr, stable_requests=sr, edge_s=edge)
    failed_check, failed_at = state.failed_check, state.failed_at
    if failed_check is None:
        threshold = config.log_threshold()
        for name, test in ((ERRORS, errors), (LATENCY, latency)):
            if name in config.checks() and test.log_e() >= threshold:
                failed_check, failed_at = name, obs.end
                break
    return replace(state, errors=errors, latency=latency,
                   stable_hist=add_buckets(state.stable_hist, obs.stable.buckets),
                   first_start=obs.start if state.first_start is None else state.first_start,
                   last_end=obs.end, step_canary_requests=state.step_canary_requests + cr,
                   step_stable_requests=state.step_stable_requests + sr,
                   failed_check=failed_check, failed_at=failed_at,
                   queries=obs.queries or state.queries)


def _whole(x: float) -> int:
    # Prometheus increase() extrapolates to fractional counts; counts of events are whole.
    return max(0, round(x))


def evidence(state: JudgeState, config: JudgeConfig) -> tuple[CheckEvidence, ...]:
    """Per-check evidence as of now."""
    out = []
    threshold = config.log_threshold()
    for name, test, margin in ((ERRORS, state.errors, config.error_margin),
                               (LATENCY, state.latency, config.latency_margin)):
        if name not in config.checks():
            continue
        log_e = test.log_e()
        outcome = Outcome.FAIL if name == state.failed_check else Outcome.CONTINUE
        out.append(CheckEvidence(name=name, outcome=outcome, log_e_value=log_e, log_threshold=threshold,
                                 margin=margin, canary_requests=test.canary_requests,
                                 canary_events=test.canary_events, stable_requests=test.stable_requests,
                                 stable_events=test.stable_events, intervals=test.intervals,
                                 edge_s=test.edge_s))
    return tuple(out)


def judge(state: JudgeState, config: JudgeConfig, *, now: float, min_duration_s: float = 0.0,
          missing: Missing | None = None) -> Verdict:
    """The verdict at ``now`` for the current step (begun with :func:`begin_step`)."""
    checks = evidence(state, config)
    window = (state.first_start, state.last_end)
    common: dict[str, Any] = {"at": now, "window": window, "checks": checks,
                                  "step_canary_requests": state.step_canary_requests,
                                  "min_canary_requests": config.min_canary_requests,
                                  "queries": (missing.queries if missing and missing.queries else state.queries)}
    if state.failed_check is not None:
        failed = next(c for c in checks if c.name == state.failed_check)
        return Verdict(Outcome.FAIL, _fail_reason(failed), **common)
    if missing is not None:
        return Verdict(Outcome.INCONCLUSIVE, f"holding: {missing.kind.value}: {missing.detail}",
                       missing=missing.kind.value, **common)
    if state.last_end is None:
        return Verdict(Outcome.INCONCLUSIVE, "holding: no counts yet", missing=MissingKind.NO_DATA.value, **common)
    age = now - state.last_end
    if age > config.max_staleness_s:
        return Verdict(Outcome.INCONCLUSIVE, f"holding: newest counts are {age:.0f}s old "
                       f"(limit {config.max_staleness_s:.0f}s)", missing="stale", **common)
    started = state.step_started_at if state.step_started_at is not None else state.first_start
    elapsed = now - (started if started is not None else now)
    if elapsed < min_duration_s:
        return Verdict(Outcome.CONTINUE, f"watching: {elapsed:.0f}s of {min_duration_s:.0f}s, "
                       f"{state.step_canary_requests} canary requests, no regression detected", **common)
    if state.step_canary_requests < config.min_canary_requests:
        return Verdict(Outcome.INCONCLUSIVE, f"holding: too little canary traffic: "
                       f"{state.step_canary_requests} of {config.min_canary_requests} requests this step",
                       missing="too_little_traffic", **common)
    summary = "; ".join(f"{c.name}: e-value {math.exp(min(c.log_e_value, 50)):.3g} < {math.exp(c.log_threshold):.0f}"
                        for c in checks)
    return Verdict(Outcome.PASS, f"passed: {state.step_canary_requests} canary requests over "
                   f"{elapsed:.0f}s, no regression beyond the margins ({summary})", **common)


def _fail_reason(c: CheckEvidence) -> str:
    what = "errors" if c.name == ERRORS else f"requests slower than {c.edge_s}s (stable's p-edge)"
    cr = f"{c.canary_events}/{c.canary_requests}"
    sr = f"{c.stable_events}/{c.stable_requests}"
    return (f"{c.name} failed: canary {what} {cr} vs stable {sr}; e-value "
            f"{math.exp(min(c.log_e_value, 700.0)):.3g} >= {math.exp(c.log_threshold):.0f} "
            f"(canary worse than stable by more than {c.margin:.0%})")


# --- extra PromQL checks: a value that must stay within a range ------------------------------------

@dataclass(frozen=True)
class RangeCheckState:
    """Consecutive out-of-range evaluations of one extra check (not a sequential test: a user SLO)."""

    failures: int = 0
    last_value: float | None = None
    failed: bool = False


def range_check(state: RangeCheckState, value: float | None, *, low: float | None, high: float | None,
                failure_limit: int) -> RangeCheckState:
    """Fold one evaluation of an extra check; ``None`` (no data) neither fails nor resets it."""
    if value is None or math.isnan(value):
        return replace(state, last_value=None)
    bad = (low is not None and value < low) or (high is not None and value > high)
    failures = state.failures + 1 if bad else 0
    return RangeCheckState(failures=failures, last_value=value, failed=state.failed or failures >= failure_limit)


def combine(verdict: Verdict, extra: Mapping[str, RangeCheckState]) -> Verdict:
    """Fold extra checks into a verdict: any failed one fails; one without data blocks a pass."""
    if verdict.outcome is Outcome.FAIL:
        return verdict
    failed = [name for name, s in extra.items() if s.failed]
    if failed:
        return replace(verdict, outcome=Outcome.FAIL,
                       reason=f"extra check(s) out of range: {', '.join(sorted(failed))}")
    blank = [name for name, s in extra.items() if s.last_value is None]
    if blank and verdict.outcome is Outcome.PASS:
        return replace(verdict, outcome=Outcome.INCONCLUSIVE,
                       reason=f"holding: no data for extra check(s): {', '.join(sorted(blank))}")
    return verdict
