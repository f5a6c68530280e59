"""The bad-canary scenario on the real local stack, several times: how fast is a bad release pulled,
and how many users did it fail first?

    .venv/bin/python benchmarks/rollout_real.py [--runs 5] [--rate 14] [--error-rate 0.05] [--weight 10] [--json]

Starts the whole stack (``fleetdeck up``: HAProxy, Prometheus scraping every 2 s, the fleet, the load
generator at ``--rate`` shopper journeys/s, i.e. nominally ~100 requests/s at the edge) on free ports
with a temporary state dir, then per run rolls ``cart`` out to a fresh version with ``--error-rate``
5xx injected (stable: none), at ``--weight`` % with a 10-minute analysis step, and waits for the
automatic rollback. Per run it reports:

- canary's first request: the first access-log line of the canary instance (its own record, ms resolution);
- weight zero (history): the ``rolling_back`` transition of the rollout's history, persisted just before
  the controller sets the canary's weight to 0 through HAProxy's runtime API;
- weight zero (HAProxy): the first time a 10 Hz poll of HAProxy's stats saw the canary server at weight 0
  or gone (the data plane itself; at most 0.1 s + one stats round trip late);
- failed requests: 5xx the canary served before weight zero, from its own access log, cross-checked with
  the last value of its own ``fleet_http_requests_total{code=~"5.."}`` counter (polled every 0.25 s);
- the edge and cart request rates HAProxy counted during the run.

Not a test: the figures depend on the machine, its load and the traffic the fleet actually sustains.
Everything started is stopped at the end (``fleetdeck down``, then SIGKILL of any pid still alive).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.realstack import MANIFEST, RealStack

SERVICE = "cart"


def parse_ts(raw: str) -> float:
    return datetime.fromisoformat(raw).astimezone(UTC).timestamp()


def access_log(path: Path) -> list[tuple[float, int]]:
    """(finish time, status) of every request in an instance's access log."""
    out: list[tuple[float, int]] = []
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        if '"fleet.access"' not in line:
            continue
        try:
            rec = json.loads(line)
            out.append((parse_ts(rec["ts"]), int(rec["http_status"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def cart_requests(stack: RealStack) -> float:
    m = re.search(r'haproxy_frontend_http_requests_total\{proxy="listen_cart"\} ([0-9.e+]+)', stack.haproxy_metrics())
    return float(m.group(1)) if m else 0.0


class CartLoad:
    """Extra GET /carts/<session> through cart's HAProxy listener at ``rps`` (4 paced workers), standing
    in for the cart share of edge traffic the shoppers cannot reach on a loaded machine."""

    def __init__(self, stack: RealStack, rps: float, workers: int = 4) -> None:
        port = int(stack.env["FLEETDECK_LISTENER_PORT_BASE"]) + MANIFEST.services[SERVICE].index
        self.url, self.period = f"http://127.0.0.1:{port}", workers / rps
        self.halt = threading.Event()
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as c:
            due = time.monotonic() + i * self.period / len(self.threads)
            while not self.halt.is_set():
                self.halt.wait(max(0.0, due - time.monotonic()))
                due = max(due + self.period, time.monotonic() - self.period)
                try:
                    c.get(f"/carts/bench-{i}-{self.sent % 50}")
                    self.sent += 1
                except httpx.HTTPError:
                    pass

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt.set()
        for t in self.threads:
            t.join(15)


class Watcher(threading.Thread):
    """Polls HAProxy's weights (10 Hz) and the canary's own counters (4 Hz) until told to stop."""

    def __init__(self, stack: RealStack, canary: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.canary = stack, canary
        self.server = f"{canary}__1"
        self.halt = threading.Event()
        self.weight_up: float | None = None
        self.weight_zero: float | None = None
        self.counters: dict[str, float] | None = None
        self.port: int | None = None

    def run(self) -> None:
        last_counters = 0.0
        while not self.halt.is_set():
            now = time.time()
            try:
                w = self.stack.haproxy_weights(SERVICE).get(self.server, 0)
            except httpx.HTTPError:
                w = None
            if w is not None:
                if w > 0 and self.weight_up is None:
                    self.weight_up = now
                elif w == 0 and self.weight_up is not None and self.weight_zero is None:
                    self.weight_zero = now
            if now - last_counters >= 0.25 and self.weight_zero is None:
                last_counters = now
                try:
                    if self.port is None:
                        inst = next((i for i in self.stack.instances() if i["service"] == SERVICE
                                     and i["version"] == self.canary and i["health"] == "ready"), None)
                        self.port = inst["port"] if inst else None
                    if self.port is not None:
                        self.counters = self.stack.instance_counters(self.port)
                except httpx.HTTPError:
                    pass
            self.halt.wait(0.1)


def one_run(stack: RealStack, client: httpx.Client, canary: str, error_rate: float, weight: int) -> dict[str, Any]:
    stack.prepare_canary(SERVICE, canary, {"error_rate": error_rate})
    watcher = Watcher(stack, canary)
    watcher.start()
    edge0, cart0, t0 = stack.edge_requests(), cart_requests(stack), time.time()
    ro = stack.start_rollout(client, {"service": SERVICE, "version": canary,
                                      "steps": [{"setWeight": weight}, {"analysis": {"duration": "10m"}}]})
    try:
        done = stack.wait_rollout(ro["id"], {"rolled_back", "failed", "promoted"}, timeout=600, poll=1)
        end = time.time()
        edge_rps = (stack.edge_requests() - edge0) / (end - t0)
        cart_rps = (cart_requests(stack) - cart0) / (end - t0)
        time.sleep(1.0)
    finally:
        watcher.halt.set()
        watcher.join(5)
    out: dict[str, Any] = {"version": canary, "rollout": ro["id"], "phase": done["phase"],
                           "edge_rps": round(edge_rps, 1), "cart_rps": round(cart_rps, 1)}
    if done["phase"] != "rolled_back":
        out["reason"] = done["reason"]
        return out
    cause = next(h for h in done["history"] if h["phase"] == "rolling_back")
    weight_set = next(h["at"] for h in done["history"] if f"canary weight {weight}%" in (h["reason"] or ""))
    zero = float(cause["at"])
    log = access_log(stack.state / "logs" / f"{SERVICE}-{canary}-1.log")
    first = min((t for t, _ in log), default=None)
    failed_before = sum(1 for t, code in log if code >= 500 and t <= zero)
    served_before = sum(1 for t, _ in log if t <= zero)
    check = next(c for c in cause["data"]["verdict"]["checks"] if c["outcome"] == "fail")
    out.update({
        "check": check["name"], "e_value": check["e_value"], "threshold": check["threshold"],
        "judged_canary": f"{check['canary']['events']}/{check['canary']['requests']}",
        "judged_stable": f"{check['stable']['events']}/{check['stable']['requests']}",
        "first_request_to_zero_s": round(zero - first, 2) if first else None,
        "weight_set_to_zero_s": round(zero - weight_set, 2),
        "haproxy_zero_lag_s": round(watcher.weight_zero - zero, 2) if watcher.weight_zero else None,
        "failed_before_zero": failed_before, "served_before_zero": served_before,
        "failed_total_log": sum(1 for _, code in log if code >= 500),
        "counter_failed": int(watcher.counters["errors"]) if watcher.counters else None,
        "counter_requests": int(watcher.counters["requests"]) if watcher.counters else None,
    })
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rate", type=float, default=14.0, help="load generator journeys/s (~7 edge requests each)")
    p.add_argument("--error-rate", type=float, default=0.05)
    p.add_argument("--weight", type=int, default=10)
    p.add_argument("--cart-rps", type=float, default=0.0,
                   help="extra cart requests/s through cart's HAProxy listener (0: the shoppers only)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    started = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fleetdeck-bench-") as tmp:
        stack = RealStack(Path(tmp) / "state", loadgen_rate=args.rate, scrape_interval_s=2)
        try:
            stack.up()
            stack.wait_ready()
            time.sleep(10)  # let the shoppers ramp up
            client = stack.client(stack.make_token("bench", "deployer"))
            extra = CartLoad(stack, args.cart_rps) if args.cart_rps > 0 else contextlib.nullcontext()
            try:
                with extra:
                    for i in range(args.runs):
                        r = one_run(stack, client, f"v{100 + i}", args.error_rate, args.weight)
                        results.append(r)
                        print(json.dumps(r), flush=True)
            finally:
                client.close()
        finally:
            left = stack.down()
            if left:
                print(f"note: SIGKILLed {left} left after fleetdeck down", file=sys.stderr)

    ok = [r for r in results if r["phase"] == "rolled_back" and r.get("first_request_to_zero_s") is not None]
    summary: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"), "machine": f"{platform.machine()}, {platform.node()}",
        "python": platform.python_version(), "runs": len(results), "rolled_back": len(ok),
        "scenario": f"{args.weight}% canary, {args.error_rate:.0%} errors, loadgen {args.rate:g} journeys/s"
                    + (f", plus {args.cart_rps:g} cart req/s through cart's listener" if args.cart_rps else ""),
    }
    if ok:
        times = [r["first_request_to_zero_s"] for r in ok]
        failed = [r["failed_before_zero"] for r in ok]
        summary.update({
            "first_request_to_zero_s": {"median": statistics.median(times), "worst": max(times)},
            "weight_set_to_zero_s": {"median": statistics.median(r["weight_set_to_zero_s"] for r in ok),
                                     "worst": max(r["weight_set_to_zero_s"] for r in ok)},
            "failed_before_zero": {"median": statistics.median(failed), "worst": max(failed)},
            "edge_rps": {"median": statistics.median(r["edge_rps"] for r in ok)},
            "cart_rps": {"median": statistics.median(r["cart_rps"] for r in ok)},
            "checks": sorted({r["check"] for r in ok}),
        })
    if args.json:
        print(json.dumps({"summary": summary, "runs": results}, indent=2))
    else:
        print("\nrun  check        1st req->w0  w set->w0  haproxy lag  failed/served(log)  counter  edge rps  cart rps")
        for r in results:
            if r in ok:
                print(f"{r['version']:<5}{r['check']:<13}{r['first_request_to_zero_s']:>9.1f} s{r['weight_set_to_zero_s']:>9.1f} s"
                      f"{(r['haproxy_zero_lag_s'] or 0):>10.2f} s{r['failed_before_zero']:>10}/{r['served_before_zero']:<8}"
                      f"{r['counter_failed']!s:>8}{r['edge_rps']:>10}{r['cart_rps']:>10}")
            else:
                print(f"{r['version']:<5}{r['phase']}: {r.get('reason', '')}")
        print(json.dumps(summary, indent=2))
    return 0 if len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
