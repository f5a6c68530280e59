"""Local-mode commands: up, down, status, scale, weights, restart, fault.

``up`` and ``down`` manage the daemon's processes on this machine; the others go through the API
with control_plane.client.ApiClient, authenticated by FLEETDECK_TOKEN or <state_dir>/cli-token.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from control_plane import procs
from control_plane.cli.connect import make_client
from control_plane.client import ApiClient, ApiError
from control_plane.errors import ValidationError
from control_plane.local_state import leftover_pids, running_daemon_pid, stop_leftovers
from control_plane.settings import Settings, load_settings

FAULT_FLAGS = ("error_rate", "latency_ms", "crash_after", "leak_kb_per_request")


def _json_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "json_out", False))


# --- up / down ----------------------------------------------------------------------------------
def urls(settings: Settings) -> list[tuple[str, str]]:
    h = settings.host
    return [("storefront", f"http://{h}:{settings.edge_port}/"),
            ("API", f"http://{h}:{settings.api_port}/api/v1 (docs: /api/v1/docs)"),
            ("Prometheus", f"http://{h}:{settings.prometheus_port}/targets"),
            ("HAProxy stats", f"http://{h}:{settings.haproxy_stats_port}/stats"),
            ("dashboard", f"http://{h}:{settings.dashboard_port}/ (its first build takes about a minute)"
             if settings.dashboard else "dashboard: off (FLEETDECK_DASHBOARD=0)"),
            ("logs", f"{Path(settings.state_dir).resolve() / 'logs'}")]


def fleet_ready(client: ApiClient) -> tuple[bool, int, int]:
    """(every wanted instance ready, ready count, wanted count)."""
    services = client.get("/api/v1/services")
    wanted = sum(v["replicas"] for s in services for v in s["versions"])
    ready = sum(1 for s in services for v in s["versions"] for i in v["instances"] if i["health"] == "ready")
    return wanted > 0 and ready >= wanted, ready, wanted


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    state = Path(settings.state_dir).resolve()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the CLI token and logs
    log_path = state / "logs" / "control-plane.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pid = running_daemon_pid(settings)
    proc: subprocess.Popen | None = None
    offset = log_path.stat().st_size if log_path.exists() else 0
    if pid is None:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "control_plane.daemon"], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=Path(__file__).resolve().parents[2])
        print(f"fleetdeck: starting the control plane (pid {proc.pid}, log {log_path})", flush=True)
    else:
        print(f"fleetdeck: the control plane is already running (pid {pid})", flush=True)
    deadline = time.monotonic() + args.timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[offset:][-2000:]
            print(f"fleetdeck: the control plane exited (code {proc.returncode}):\n{tail}", file=sys.stderr)
            return 1
        try:
            client = make_client(settings)
            try:
                ok, ready, wanted = fleet_ready(client)
            finally:
                client.close()
            status = f"{ready}/{wanted} instances ready"
            if status != last:
                print(f"fleetdeck: {status}", flush=True)
                last = status
            if ok:
                break
        except ApiError:
            pass
        time.sleep(0.5)
    else:
        print(f"fleetdeck: not all instances ready after {args.timeout:.0f}s; see {log_path} and "
              "`fleetdeck status`", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    for line in log_path.read_text(errors="replace")[offset:].splitlines():
        if line.startswith("fleetdeck: created admin"):
            print(line)
    print(f"fleetdeck: up in {elapsed:.1f}s. Where to look:")
    for name, url in urls(settings):
        print(f"  {name:<14} {url}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    settings = load_settings()
    pid = running_daemon_pid(settings)
    if pid is not None:
        print(f"fleetdeck: stopping the control plane (pid {pid})", flush=True)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while procs.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if procs.pid_alive(pid):
            print(f"fleetdeck: the control plane did not stop in {args.timeout:.0f}s; killing it", file=sys.stderr)
            procs.signal_group(pid, signal.SIGKILL)
    stopped = stop_leftovers(settings)
    if stopped:
        print(f"fleetdeck: stopped leftover processes {stopped}")
    left = leftover_pids(settings) + ([pid] if pid is not None and procs.pid_alive(pid) else [])
    if left:
        print(f"fleetdeck: still running: {left}", file=sys.stderr)
        return 1
    print("fleetdeck: everything stopped; nothing left running")
    return 0


# --- API commands -------------------------------------------------------------------------------
def _with_client(fn):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        client = make_client(load_settings())
        try:
            return int(fn(args, client) or 0)
        finally:
            client.close()

    return run


def format_instances(rows: list[dict[str, Any]]) -> str:
    """A plain text table of instances."""
    header = ("INSTANCE", "SERVICE", "VERSION", "PORT", "PID", "HEALTH", "RESTARTS", "STARTED")
    table = [header] + [(r["id"], r["service"], r["version"], str(r["port"]), str(r.get("pid") or "-"),
                         r["health"], str(r["restarts"]), (r.get("started_at") or "-")[:19]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table)


def cmd_status(args: argparse.Namespace, client: ApiClient) -> int:
    rows = client.get("/api/v1/instances")
    if _json_wanted(args):
        print(json.dumps(rows, indent=2))
    else:
        print(format_instances(rows) if rows else "no instances")
    return 0


def cmd_scale(args: argparse.Namespace, client: ApiClient) -> int:
    out = client.request("PUT", f"/api/v1/services/{args.service}/versions/{args.version}",
                         json={"replicas": args.replicas})
    print(json.dumps(out, indent=2) if _json_wanted(args)
          else f"{args.service} {args.version}: {args.replicas} replica(s) wanted")
    return 0


def parse_weights(pairs: list[str]) -> dict[str, int]:
    """``["v1=90", "v2=10"]`` → ``{"v1": 90, "v2": 10}``; a malformed pair is a ValidationError."""
    out: dict[str, int] = {}
    for pair in pairs:
        version, sep, raw = pair.partition("=")
        if not sep or not version:
            raise ValidationError(f"weights look like v1=90 v2=10, got {pair!r}", field="weights")
        try:
            out[version] = int(raw)
        except ValueError:
            raise ValidationError(f"weight of {version} must be an integer, got {raw!r}",
                                  field=f"weights.{version}") from None
    return out


def cmd_weights(args: argparse.Namespace, client: ApiClient) -> int:
    weights = parse_weights(args.weights)
    current = client.get(f"/api/v1/services/{args.service}")
    out = client.request("PUT", f"/api/v1/services/{args.service}/weights", json={"weights": weights},
                         headers={"If-Match": f'"{current["resource_version"]}"'})
    print(json.dumps(out, indent=2) if _json_wanted(args) else
          f"{args.service}: " + " ".join(f"{v}={w}%" for v, w in out["weights"].items()))
    return 0


def cmd_restart(args: argparse.Namespace, client: ApiClient) -> int:
    out = client.request("POST", f"/api/v1/instances/{args.instance}/restart")
    print(json.dumps(out, indent=2) if _json_wanted(args) else f"{args.instance}: restarting")
    return 0


def cmd_fault(args: argparse.Namespace, client: ApiClient) -> int:
    svc = client.get(f"/api/v1/services/{args.service}")
    version = next((v for v in svc["versions"] if v["version"] == args.version), None)
    if version is None:
        known = ", ".join(v["version"] for v in svc["versions"]) or "none"
        raise ValidationError(f"{args.service} has no version {args.version!r} (deployed: {known})", field="version")
    faults = {} if args.clear else dict(version["faults"])
    for name in FAULT_FLAGS:
        value = getattr(args, name)
        if value is not None:
            faults[name] = value
    out = client.request("PUT", f"/api/v1/services/{args.service}/versions/{args.version}",
                         json={"replicas": version["replicas"], "faults": faults})
    now = next(v for v in out["versions"] if v["version"] == args.version)["faults"]
    print(json.dumps(now, indent=2) if _json_wanted(args) else
          f"{args.service} {args.version} faults: " + ", ".join(f"{k}={v}" for k, v in now.items()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("up", help="start the whole local stack and wait until every instance is ready")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    p.set_defaults(func=cmd_up)
    p = subparsers.add_parser("down", help="stop everything `up` started and check nothing is left")
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_down)
    p = subparsers.add_parser("status", help="every instance: version, port, health, restarts")
    p.add_argument("--json", dest="json_out", action="store_true", help="print JSON")
    p.set_defaults(func=_with_client(cmd_status))
    p = subparsers.add_parser("scale", help="deploy or scale a version: SERVICE VERSION REPLICAS")
    p.add_argument("service")
    p.add_argument("version")
    p.add_argument("replicas", type=int)
    p.set_defaults(func=_with_client(cmd_scale))
    p = subparsers.add_parser("weights", help="set traffic percentages: SERVICE v1=90 v2=10")
    p.add_argument("service")
    p.add_argument("weights", nargs="+", metavar="VERSION=PERCENT")
    p.set_defaults(func=_with_client(cmd_weights))
    p = subparsers.add_parser("restart", help="restart one instance")
    p.add_argument("instance")
    p.set_defaults(func=_with_client(cmd_restart))
    p = subparsers.add_parser("fault", help="make a version misbehave (see fleet/README for semantics)")
    p.add_argument("service")
    p.add_argument("version")
    p.add_argument("--error-rate", type=float, help="fraction of requests answered 500 (0..1)")
    p.add_argument("--latency-ms", type=float, help="added to every request")
    p.add_argument("--crash-after", type=int, help="exit after this many requests (0: never)")
    p.add_argument("--leak-kb-per-request", type=float, help="memory retained per request")
    p.add_argument("--clear", action="store_true", help="reset every fault before applying the flags given")
    p.set_defaults(func=_with_client(cmd_fault))
