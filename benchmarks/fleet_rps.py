"""Requests per second of each fleet service on one core, with telemetry on and off.

    .venv/bin/python benchmarks/fleet_rps.py [--runs 3] [--duration 4] [--connections 16] [--services catalog,cart]

Each service runs alone pinned to core 0 (``taskset -c 0``); wrk (installed with apt-get if missing)
drives it from core 1 over keep-alive connections. "on" = FLEET_TELEMETRY=on with spans and logs
exported over OTLP/HTTP to a sink that accepts and drops them (also on core 1); "off" =
FLEET_TELEMETRY=off (no tracing, no OTLP logs; metrics and stdout logs stay). Prints the median
of the runs and the on/off ratio, and the service's CPU time per request (from /proc), which
depends much less on what else the machine is doing than requests per second do. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fleet.testing import ServiceProcess, free_port, start_service

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}


@dataclass(frozen=True)
class Case:
    service: str
    method: str
    path: str
    body: dict[str, object] | None = None
    note: str = ""
    needs_catalog: bool = False  # recommendation calls catalog: catalog then shares core 0


CASES = (
    Case("frontend", "GET", "/checkout", note="HTML form page, no upstream call"),
    Case("catalog", "GET", "/products/mug", note="one product from SQLite"),
    Case("cart", "GET", "/carts/bench", note="read a cart from SQLite"),
    Case("checkout", "POST", "/checkout", {"session_id": "bench"},
         note="400 invalid body: checkout's only route calls 5 services, this measures its own stack"),
    Case("payment", "POST", "/charges", {"amount_cents": 2397, "currency": "USD", "card": CARD},
         note="validate + charge + SQLite insert"),
    Case("shipping", "POST", "/quotes",
         {"items": [{"product_id": "mug", "quantity": 2}],
          "address": {"street": "1 Main", "city": "X", "zip": "1", "country": "US"}}, note="quote"),
    Case("recommendation", "GET", "/recommendations?product_ids=mug",
         note="calls catalog (also on core 0): the pair's throughput", needs_catalog=True),
    Case("orders", "GET", "/orders?session_id=bench", note="order history from SQLite (empty)"),
)

SINK = textwrap.dedent("""
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
        def log_message(self, *a): pass
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    print("wrk is missing: installing it with apt-get (Debian package 'wrk')", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk could not be installed; run: apt-get install wrk")
    return wrk


def wrk_script(case: Case, folder: Path) -> Path:
    script = folder / f"{case.service}.lua"
    body = json.dumps(case.body) if case.body is not None else None
    lines = [f'wrk.method = "{case.method}"']
    if body is not None:
        lines += [f"wrk.body = [[{body}]]", 'wrk.headers["Content-Type"] = "application/json"']
    script.write_text("\n".join(lines) + "\n")
    return script


@dataclass(frozen=True)
class Run:
    rps: float
    cpu_us_per_request: float  # CPU time the service processes spent per request: robust to a shared machine
    non2xx: int


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of processes (taskset execs, so the pid is the service's)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, url: str, script: Path, duration: int, connections: int, pids: list[int]) -> Run:
    before = cpu_seconds(pids)
    out = subprocess.run(["taskset", "-c", "1", wrk, "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pids) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Run(rps, cpu / max(requests, 1) * 1e6, int(non2xx.group(1)) if non2xx else 0)


def measure(case: Case, telemetry: bool, wrk: str, work: Path, args: argparse.Namespace, sink_url: str) -> list[Run]:
    env = {"FLEET_TELEMETRY": "on" if telemetry else "off", "FLEET_LOG_LEVEL": "INFO"}
    if telemetry:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    data = Path(tempfile.mkdtemp(dir=work))
    procs: list[ServiceProcess] = []
    try:
        upstreams = {}
        if case.needs_catalog:
            cat = start_service("catalog", data, env=env, cpu=0)
            procs.append(cat)
            cat.wait_ready()
            upstreams["catalog"] = cat.url
        svc = start_service(case.service, data, env=env, upstreams=upstreams, cpu=0)
        procs.append(svc)
        svc.wait_ready()
        script = wrk_script(case, work)
        pids = [p.proc.pid for p in procs]
        run_wrk(wrk, svc.url + case.path, script, 1, args.connections, pids)  # warm-up
        results = []
        for _ in range(args.runs):
            run = run_wrk(wrk, svc.url + case.path, script, args.duration, args.connections, pids)
            if run.non2xx and case.service != "checkout":  # checkout's benchmark route answers 400 on purpose
                print(f"  warning: {case.service}: {run.non2xx} non-2xx answers", file=sys.stderr)
            results.append(run)
        return results
    finally:
        for p in procs:
            p.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=4)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--services", default=",".join(c.service for c in CASES))
    args = p.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs at least 2 cores (service on core 0, load on core 1)")
    wanted = set(args.services.split(","))
    wrk = ensure_wrk()
    sink_port = free_port()
    sink = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", SINK, str(sink_port)])
    print(f"fleet rps benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"python {sys.version.split()[0]}  cores {os.cpu_count()}  runs {args.runs} x {args.duration}s  "
          f"wrk -c{args.connections}  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'service':<15}{'route':<30}{'on rps':>8}{'off rps':>8}{'on/off':>7}"
          f"{'on µs':>8}{'off µs':>8}{'off/on':>7}  note   (µs = service CPU per request)")
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
            for case in CASES:
                if case.service not in wanted:
                    continue
                on_runs = measure(case, True, wrk, Path(tmp), args, f"http://127.0.0.1:{sink_port}")
                off_runs = measure(case, False, wrk, Path(tmp), args, "")
                on = statistics.median(r.rps for r in on_runs)
                off = statistics.median(r.rps for r in off_runs)
                on_cpu = statistics.median(r.cpu_us_per_request for r in on_runs)
                off_cpu = statistics.median(r.cpu_us_per_request for r in off_runs)
                route = f"{case.method} {case.path}"
                print(f"{case.service:<15}{route[:29]:<30}{on:>8.0f}{off:>8.0f}{on / off:>7.2f}"
                      f"{on_cpu:>8.0f}{off_cpu:>8.0f}{off_cpu / on_cpu:>7.2f}  {case.note}", flush=True)
    finally:
        sink.terminate()
        sink.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
