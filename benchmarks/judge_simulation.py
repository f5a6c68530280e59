"""Benchmark of the canary judge on simulated traffic seen through Prometheus scrapes.

    .venv/bin/python benchmarks/judge_simulation.py [--runs 1000] [--good-runs 2000] [--seed 1]

Prints, for the S1 scenario (10% canary, 5% canary errors vs none on stable, ~100 req/s at the edge,
2 s scrapes, judge every 2 s), the median / p95 / worst time from the canary's first request to its
weight being zero and the failed canary requests served before that; the same for latency
regressions; the false-rollback rate over many good-canary rollouts (10% -> 25% -> 50%, traffic
swinging +-50%); and Flagger's rule on the very same traffic. Not a test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from control_plane.domain.judge import JudgeConfig
from control_plane.rollouts.simulation import Flagger, Latency, Scenario, Summary, many

STEPS = ((0.10, 60.0), (0.25, 60.0), (0.50, 60.0))
FLAGGER_DOCS = Flagger(interval_s=60, min_success=0.99, threshold=5, max_p99_s=0.5)
FLAGGER_CODE_DEFAULT = Flagger(interval_s=60, min_success=0.99, threshold=1, max_p99_s=0.5)


def fmt(x: float | None, unit: str = "") -> str:
    return "never" if x is None else f"{x:.1f}{unit}"


def report_bad(title: str, s: Summary, f_docs: Summary, f_code: Summary, latency: bool = False) -> None:
    print(f"\n## {title} ({s.runs} runs)")
    exposure = (f"slow canary requests served: median {fmt(s.median_canary_requests)}, worst "
                f"{s.worst_canary_requests}" if latency else
                f"failed canary requests: median {fmt(s.median_failed)}, worst {s.worst_failed}")
    print(f"  Fleetdeck judge: rolled back {s.rolled_back}/{s.runs}; time to weight 0: median "
          f"{fmt(s.median_time_s, ' s')}, p95 {fmt(s.p95_time_s, ' s')}, p99 {fmt(s.p99_time_s, ' s')}, "
          f"worst {fmt(s.worst_time_s, ' s')}; {exposure}")
    for label, f in (("Flagger (interval 1m, threshold 5 failed checks, as in its docs)", f_docs),
                     ("Flagger (interval 1m, threshold 1, the code default)", f_code)):
        print(f"  {label}: rolled back {f.flagger_rolled_back}/{f.runs}; median time "
              f"{fmt(f.flagger_median_time_s, ' s')}, median failed canary requests {fmt(f.flagger_median_failed)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="runs per bad-canary scenario")
    ap.add_argument("--good-runs", type=int, default=2000, help="good-canary rollouts for the false-rollback rate")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    cfg = JudgeConfig()
    began = time.monotonic()
    print("# Fleetdeck canary judge benchmark (simulated traffic, seeded)")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; machine: {platform.machine()} "
          f"{platform.processor() or ''} {os.cpu_count()} cpus, Python {platform.python_version()}")
    print(f"judge: alpha={cfg.alpha} (split over errors and latency), margins {cfg.error_margin:.0%}/"
          f"{cfg.latency_margin:.0%}, slow = above stable's p{cfg.latency_quantile * 100:g} bucket edge; "
          "scrape 2 s at a random phase, judge every 2 s at a random phase, 0.3 s ingest delay, "
          "50 ms to set the weight")

    scenarios = [
        ("S1: 10% canary, 5% errors vs 0% on stable, 100 req/s", Scenario(name="S1", weights=((0.10, 420.0),))),
        ("Canary failing outright: 10% canary, 100% errors, 100 req/s",
         Scenario(name="outright", weights=((0.10, 420.0),), canary_error=1.0)),
        ("Latency +600 ms (stable ~20 ms median), 10% canary, 100 req/s",
         Scenario(name="lat600", weights=((0.10, 420.0),), canary_error=0.0, canary_latency=Latency(added_s=0.6))),
        ("Latency +50 ms (stable ~20 ms median), 10% canary, 100 req/s",
         Scenario(name="lat50", weights=((0.10, 420.0),), canary_error=0.0, canary_latency=Latency(added_s=0.05))),
    ]
    for title, sc in scenarios:
        s = many(sc, cfg, args.runs, seed=args.seed, flagger=FLAGGER_DOCS)
        f_code = many(sc, cfg, min(args.runs, 200), seed=args.seed, flagger=FLAGGER_CODE_DEFAULT)
        report_bad(title, s, s, f_code, latency=sc.canary_error == 0.0)

    print(f"\n## False rollbacks on good canaries ({args.good_runs} whole rollouts 10% -> 25% -> 50%, "
          "60 s each, traffic +-50% over 90 s, 1% errors on both, same latency)")
    good = Scenario(name="good", weights=STEPS, wave=0.5, stable_error=0.01, canary_error=0.01)
    g = many(good, cfg, args.good_runs, seed=args.seed + 100_000)
    print(f"  Fleetdeck judge: {g.rolled_back}/{g.runs} rolled back = {g.rate:.2%} (bound: alpha = {cfg.alpha:.0%})")
    boundary = Scenario(name="boundary", weights=STEPS, wave=0.5, stable_error=0.02, canary_error=0.025,
                        latency=False)
    b = many(boundary, JudgeConfig(check_latency=False), args.good_runs // 2, seed=args.seed + 200_000)
    print(f"  at the null boundary (canary exactly 25% worse, errors only): {b.rolled_back}/{b.runs} = "
          f"{b.rate:.2%} (bound {cfg.alpha:.0%})")
    print(f"\n(total {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
