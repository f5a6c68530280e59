"""Open-model load: journeys start at a given rate (Poisson arrivals) whatever the latency, up to a
bound on concurrent journeys (beyond it a journey is dropped and counted), until the duration ends
or ``stop`` is set."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from urllib.parse import urlsplit

import httpx

from fleet.loadgen.journey import JourneyMix, StepFailed, run_journey
from fleet.loadgen.report import Report

MAX_DURATION_S = 24 * 3600
MAX_RATE = 1000.0
MAX_CONCURRENCY = 1000
GRACE_S = 5.0  # how long journeys in flight may finish after the end


class LoadError(ValueError):
    """Invalid load parameters; the message says which and why."""


def check_target(target: str) -> str:
    """The target without a trailing slash; only http on a loopback host is allowed."""
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise LoadError(f"target must be an http:// URL, got {target!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadError(f"target must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
    return target.rstrip("/")


def check_params(rate: float, duration: float, concurrency: int) -> None:
    if not 0 < rate <= MAX_RATE:
        raise LoadError(f"rate must be > 0 and <= {MAX_RATE} journeys/s, got {rate}")
    if not 0 < duration <= MAX_DURATION_S:
        raise LoadError(f"duration must be > 0 and <= {MAX_DURATION_S} s, got {duration}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise LoadError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")


async def arun_load(target: str, rate: float, duration: float, *, concurrency: int = 50, seed: int | None = None,
                    mix: JourneyMix | None = None, max_journeys: int | None = None,
                    stop: asyncio.Event | None = None,
                    transport: httpx.AsyncBaseTransport | None = None) -> Report:
    """Drive journeys against ``target`` and return what was seen (async form of ``run_load``)."""
    target = check_target(target)
    check_params(rate, duration, concurrency)
    stop = stop or asyncio.Event()
    mix = mix or JourneyMix()
    rng = random.Random(seed)
    report = Report(target=target, rate=rate, duration_s=duration)
    in_flight: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=target, timeout=httpx.Timeout(10.0, connect=3.0), limits=limits,
                                 transport=transport, follow_redirects=False) as client:

        async def one(journey_rng: random.Random) -> None:
            try:
                await run_journey(client, report, journey_rng, mix)
                report.journeys_completed += 1
            except StepFailed:
                report.journeys_failed += 1
            except (ValueError, KeyError, IndexError):  # a 2xx with an unexpected body
                report.journeys_failed += 1

        started = time.monotonic()
        end = started + duration
        next_at = started
        while not stop.is_set() and (max_journeys is None or report.journeys_started + report.journeys_dropped
                                     < max_journeys):
            next_at += rng.expovariate(rate)
            if next_at >= end:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
                break  # stopped
            except TimeoutError:
                pass
            if len(in_flight) >= concurrency:
                report.journeys_dropped += 1
                continue
            report.journeys_started += 1
            task = asyncio.create_task(one(random.Random(rng.getrandbits(64))))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if not stop.is_set() and max_journeys is None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, end - time.monotonic()))
            except TimeoutError:
                pass
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                report.journeys_failed += len(pending)
        report.elapsed_s = time.monotonic() - started
    return report


def run_load(target: str, rate: float, duration: float, **options: object) -> Report:
    """Drive shopper journeys at ``rate`` per second for ``duration`` seconds; see ``arun_load``."""
    return asyncio.run(arun_load(target, rate, duration, **options))  # type: ignore[arg-type]
