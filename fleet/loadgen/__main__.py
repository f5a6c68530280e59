"""``python -m fleet.loadgen --target http://127.0.0.1:8080 --rate 5 --duration 30 [--json]``"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from fleet.loadgen.journey import JourneyMix
from fleet.loadgen.runner import LoadError, arun_load


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fleet.loadgen", description="Drive shopper journeys at a rate.")
    p.add_argument("--target", default="http://127.0.0.1:8080", help="storefront base URL (loopback only)")
    p.add_argument("--rate", type=float, default=5.0, help="journeys started per second (default 5)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to run (default 30; SIGTERM stops early)")
    p.add_argument("--concurrency", type=int, default=50, help="max journeys in flight; more are dropped")
    p.add_argument("--checkout-ratio", type=float, default=0.8, help="share of journeys that check out")
    p.add_argument("--decline-ratio", type=float, default=0.1, help="share of checkouts with a declined card")
    p.add_argument("--max-journeys", type=int, default=None, help="stop after this many journeys")
    p.add_argument("--seed", type=int, default=None, help="seed for a repeatable run")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for name, ratio in (("--checkout-ratio", args.checkout_ratio), ("--decline-ratio", args.decline_ratio)):
        if not 0.0 <= ratio <= 1.0:
            print(f"loadgen: {name} must be between 0 and 1", file=sys.stderr)
            return 2
    try:
        report = await arun_load(args.target, args.rate, args.duration, concurrency=args.concurrency,
                                 seed=args.seed, max_journeys=args.max_journeys, stop=stop,
                                 mix=JourneyMix(args.checkout_ratio, args.decline_ratio))
    except LoadError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_table(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
