"""Seeded simulation of a canary under live traffic, seen through Prometheus scrapes.

Used by the judge's Monte Carlo tests and by ``benchmarks/judge_simulation.py``. It models what
the controller really sees: requests arrive continuously (traffic may swing over time), the canary
gets its weight's share, Prometheus scrapes counters every ``scrape_s`` seconds at a random phase,
the judge looks every ``judge_every_s`` seconds at a random phase and only sees scrapes that are
at least ``ingest_delay_s`` old, and a rollback takes ``action_delay_s`` to set the weight to zero.

Alongside our judge it replays Flagger's fixed-interval check on the very same traffic: every
``interval`` seconds, success rate over the last interval against a threshold, rollback after
``threshold`` failed checks (its scheduler checks the count before running the next analysis).
Pure Python (``random`` and ``math``); approximations (normal draws for large counts) only shape
the traffic, never the statistics under test.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from control_plane.domain import judge as J

# fleet_http_request_duration_seconds buckets (docs/CONTRACTS.md)
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
                              1.5, 2.5, 5.0, 10.0, math.inf)


@dataclass(frozen=True)
class Latency:
    """Log-normal request latency plus a constant added delay (seconds)."""

    median_s: float = 0.02
    sigma: float = 0.5
    added_s: float = 0.0

    def cdf(self, x: float) -> float:
        if math.isinf(x):
            return 1.0
        y = x - self.added_s
        if y <= 0:
            return 0.0
        return 0.5 * (1.0 + math.erf(math.log(y / self.median_s) / (self.sigma * math.sqrt(2.0))))

    def bucket_probs(self) -> tuple[float, ...]:
        """Probability of each (non-cumulative) bucket."""
        cum = [self.cdf(le) for le in BUCKETS]
        return tuple(c - p for c, p in zip(cum, [0.0] + cum[:-1]))


@dataclass(frozen=True)
class Scenario:
    """One canary at one (or several) weights under edge traffic."""

    name: str = "S1"
    edge_rps: float = 100.0
    wave: float = 0.0  # relative amplitude of a sinusoidal traffic swing
    wave_period_s: float = 90.0
    weights: tuple[tuple[float, float], ...] = ((0.10, 420.0),)  # (canary share, seconds) in order
    stable_error: float = 0.0
    canary_error: float = 0.05
    stable_latency: Latency = field(default_factory=Latency)
    canary_latency: Latency = field(default_factory=Latency)
    latency: bool = True  # simulate histograms (the latency check)
    scrape_s: float = 2.0
    judge_every_s: float = 2.0
    ingest_delay_s: float = 0.3
    action_delay_s: float = 0.05
    slice_s: float = 0.5

    @property
    def horizon_s(self) -> float:
        return sum(d for _, d in self.weights)

    def weight_at(self, t: float) -> float:
        acc = 0.0
        for w, d in self.weights:
            acc += d
            if t < acc:
                return w
        return self.weights[-1][0]


@dataclass(frozen=True)
class Flagger:
    """Flagger's analysis as configured: ``interval`` seconds, success-rate floor, failed checks."""

    interval_s: float = 60.0
    min_success: float = 0.99
    threshold: int = 5
    max_p99_s: float | None = 0.5  # request-duration check (milliseconds 500 in its docs)


@dataclass(frozen=True)
class RunResult:
    """What happened in one simulated run (times from the canary's first request)."""

    rolled_back: bool
    time_s: float | None  # to canary weight zero
    failed_requests: int  # canary errors served before its weight reached zero
    canary_requests: int  # canary requests served before that (all of them, slow or not)
    check: str | None
    flagger_time_s: float | None
    flagger_failed_requests: int
    flagger_canary_requests: int


def _poissonish(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, prod = math.exp(-lam), 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Binomial draw: exact (geometric skips) when the mean is small, normal otherwise."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    mean = n * p
    if mean > 40:
        return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))
    log_q = math.log1p(-p)
    k, i = 0, 0
    while True:
        i += int(math.log(1.0 - rng.random()) / log_q) + 1
        if i > n:
            return k
        k += 1


def histogram(rng: random.Random, n: int, probs: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    """Cumulative bucket counts of n requests (multinomial by sequential binomials)."""
    counts, left, rest = [], n, 1.0
    for p in probs[:-1]:
        c = binomial(rng, left, min(1.0, p / rest)) if rest > 1e-12 else 0
        counts.append(c)
        left -= c
        rest -= p
    counts.append(left)
    cum, acc = [], 0
    for le, c in zip(BUCKETS, counts):
        acc += c
        cum.append((le, float(acc)))
    return tuple(cum)


@dataclass
class _Slice:
    t: float  # end of the slice
    canary: int
    stable: int
    canary_errors: int
    stable_errors: int


def _traffic(rng: random.Random, sc: Scenario) -> list[_Slice]:
    out, t = [], 0.0
    n = round(sc.horizon_s / sc.slice_s)
    for i in range(n):
        mid = (i + 0.5) * sc.slice_s
        rate = sc.edge_rps * (1.0 + sc.wave * math.sin(2 * math.pi * mid / sc.wave_period_s))
        total = _poissonish(rng, rate * sc.slice_s)
        canary = binomial(rng, total, sc.weight_at(mid))
        stable = total - canary
        t = (i + 1) * sc.slice_s
        out.append(_Slice(t, canary, stable, binomial(rng, canary, sc.canary_error),
                          binomial(rng, stable, sc.stable_error)))
    return out


def run(sc: Scenario, config: J.JudgeConfig, seed: int, flagger: Flagger | None = None) -> RunResult:
    """Simulate one canary; our judge and (optionally) Flagger's rule decide on the same traffic."""
    rng = random.Random(seed)
    slices = _traffic(rng, sc)
    # Scrapes at phase + k * scrape_s: the counts between consecutive scrapes form one interval.
    phase = rng.uniform(0, sc.scrape_s)
    scrape_times = []
    t = phase
    while t <= sc.horizon_s:
        scrape_times.append(t)
        t += sc.scrape_s
    c_probs, s_probs = sc.canary_latency.bucket_probs(), sc.stable_latency.bucket_probs()
    intervals: list[J.Observation] = []
    k, prev = 0, 0.0
    for st in scrape_times:
        cr = sr = ce = se = 0
        while k < len(slices) and slices[k].t <= st + 1e-9:
            s = slices[k]
            cr, sr, ce, se = cr + s.canary, sr + s.stable, ce + s.canary_errors, se + s.stable_errors
            k += 1
        cb = histogram(rng, cr, c_probs) if sc.latency else ()
        sb = histogram(rng, sr, s_probs) if sc.latency else ()
        intervals.append(J.Observation(prev, st, J.ArmCounts(cr, ce, cb), J.ArmCounts(sr, se, sb)))
        prev = st

    # Our judge: looks every judge_every_s, sees scrapes older than ingest_delay_s.
    state = J.JudgeState()
    seen = 0
    decided: float | None = None
    t = rng.uniform(0, sc.judge_every_s)
    while t <= sc.horizon_s and decided is None:
        while seen < len(intervals) and intervals[seen].end <= t - sc.ingest_delay_s:
            state = J.observe(state, intervals[seen], config)
            seen += 1
        if state.failed_check is not None:
            decided = t + sc.action_delay_s
        t += sc.judge_every_s
    ours = _exposure(slices, decided)

    f_time: float | None = None
    if flagger is not None:
        f_time = _flagger(sc, flagger, slices, intervals)
    theirs = _exposure(slices, f_time)
    return RunResult(rolled_back=decided is not None, time_s=decided, failed_requests=ours[0],
                     canary_requests=ours[1], check=state.failed_check, flagger_time_s=f_time,
                     flagger_failed_requests=theirs[0], flagger_canary_requests=theirs[1])


def _exposure(slices: list[_Slice], until: float | None) -> tuple[int, int]:
    """Canary errors and requests served before ``until`` (the whole run when None)."""
    errors = requests = 0
    for s in slices:
        if until is not None and s.t > until:
            break
        errors += s.canary_errors
        requests += s.canary
    return errors, requests


def _flagger(sc: Scenario, f: Flagger, slices: list[_Slice], intervals: list[J.Observation]) -> float | None:
    """Flagger's scheduler on the same traffic: checks at interval, 1 interval's window each."""
    failed = 0
    tick = f.interval_s
    while tick <= sc.horizon_s:
        if failed >= f.threshold:
            return tick
        window = [s for s in slices if tick - f.interval_s < s.t <= tick]
        req = sum(s.canary for s in window)
        err = sum(s.canary_errors for s in window)
        ok = True
        if req and (1.0 - err / req) < f.min_success:
            ok = False
        if ok and f.max_p99_s is not None and sc.latency:
            hist = [o.canary.buckets for o in intervals if tick - f.interval_s < o.end <= tick and o.canary.buckets]
            total: tuple[tuple[float, float], ...] = ()
            for h in hist:
                total = J.add_buckets(total, h)
            p99 = _histogram_quantile(total, 0.99)
            if p99 is not None and p99 > f.max_p99_s:
                ok = False
        if not ok:
            failed += 1
        tick += f.interval_s
    return None


def _histogram_quantile(buckets: tuple[tuple[float, float], ...], q: float) -> float | None:
    """Prometheus histogram_quantile: linear interpolation inside the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0.0)
        prev_le, prev_c = le, c
    return None


@dataclass(frozen=True)
class Summary:
    """Aggregate of many runs."""

    runs: int
    rolled_back: int
    median_time_s: float | None
    p95_time_s: float | None
    worst_time_s: float | None
    median_failed: float | None
    worst_failed: int | None
    median_canary_requests: float | None  # all canary requests served before weight 0 (slow ones, for latency)
    worst_canary_requests: int | None
    p99_time_s: float | None
    flagger_median_time_s: float | None
    flagger_median_failed: float | None
    flagger_rolled_back: int

    @property
    def rate(self) -> float:
        return self.rolled_back / self.runs if self.runs else 0.0


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))]


def summarize(results: list[RunResult]) -> Summary:
    times = [r.time_s for r in results if r.time_s is not None]
    failed = [float(r.failed_requests) for r in results if r.rolled_back]
    served = [float(r.canary_requests) for r in results if r.rolled_back]
    f_times = [r.flagger_time_s for r in results if r.flagger_time_s is not None]
    f_failed = [float(r.flagger_failed_requests) for r in results if r.flagger_time_s is not None]
    return Summary(runs=len(results), rolled_back=len(times),
                   median_time_s=_quantile(times, 0.5), p95_time_s=_quantile(times, 0.95),
                   worst_time_s=max(times) if times else None,
                   median_failed=_quantile(failed, 0.5), worst_failed=int(max(failed)) if failed else None,
                   median_canary_requests=_quantile(served, 0.5),
                   worst_canary_requests=int(max(served)) if served else None,
                   p99_time_s=_quantile(times, 0.99),
                   flagger_median_time_s=_quantile(f_times, 0.5), flagger_median_failed=_quantile(f_failed, 0.5),
                   flagger_rolled_back=len(f_times))


def many(sc: Scenario, config: J.JudgeConfig, runs: int, seed: int = 0,
         flagger: Flagger | None = None) -> Summary:
    """Run a scenario ``runs`` times with seeds seed, seed+1, ..."""
    return summarize([run(sc, config, seed + i, flagger) for i in range(runs)])
