"""Benchmark: time from `fleetdeck up` to every instance ready, and the stack's memory at rest.

Usage: .venv/bin/python benchmarks/stack_startup.py [--runs 3] [--settle 15] [--json]

It first runs deploy/install.sh (a no-op when everything is installed) and times it. Each run uses free ports and a fresh
temporary state dir (a first start: migrations, seeding, every instance cold), with the load
generator off so "at rest" means no traffic. Memory is the resident set (VmRSS) summed over every
process in the sessions the stack started: control plane, HAProxy, Prometheus, collectors, and each
fleet instance. This is a script, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from control_plane import procs


def listener_base(n: int) -> int:
    while True:
        base = procs.free_port()
        if base + n < 65000 and all(procs.port_is_free(base + i) for i in range(n)):
            return base


def stack_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
    for name in ("API", "EDGE", "HAPROXY_STATS", "PROMETHEUS", "COLLECTOR"):
        env[f"FLEETDECK_{name}_PORT"] = str(procs.free_port())
    env.update(FLEETDECK_DASHBOARD="0", FLEETDECK_STATE_DIR=str(state), FLEETDECK_LISTENER_PORT_BASE=str(listener_base(16)),
               FLEETDECK_LOADGEN="off", FLEETDECK_ADMIN_PASSWORD="benchmark-only", PYTHONPATH=str(ROOT))
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "control_plane.cli.main", *args], check=False, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def session_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def stack_cpu(leaders: dict[int, str]) -> float:
    """CPU seconds used by every process in the stack's sessions (load-independent cost of a start)."""
    return sum(cpu_seconds(int(e.name)) for e in Path("/proc").iterdir()
               if e.name.isdigit() and session_of(int(e.name)) in leaders)


def stack_memory(leaders: dict[int, str]) -> dict[str, int]:
    """RSS in KiB per component, over every process in the sessions led by ``leaders``."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        sid = session_of(int(entry.name))
        if sid in leaders:
            out[leaders[sid]] = out.get(leaders[sid], 0) + rss_kb(int(entry.name))
    return out


def leaders_of(env: dict[str, str], state: Path) -> dict[int, str]:
    leaders: dict[int, str] = {}
    for rel, name in (("daemon.pid", "control plane"), ("haproxy/haproxy.pid", "haproxy"),
                      ("prometheus/prometheus.pid", "prometheus"), ("run/collectors.pid", "collectors")):
        try:
            leaders[int((state / rel).read_text())] = name
        except (OSError, ValueError):
            pass
    status = cli(env, "status", "--json")
    for inst in json.loads(status.stdout):
        if inst["pid"]:
            leaders[int(inst["pid"])] = f"fleet:{inst['service']}"
    return leaders


def one_run(settle: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="fleetdeck-bench-") as tmp:
        state = Path(tmp) / "state"
        for _ in range(3):  # a free port picked here may be taken by another process before the daemon binds it
            env = stack_env(state)
            started = time.monotonic()
            up = cli(env, "up", "--timeout", "240")
            up_s = time.monotonic() - started
            if up.returncode == 0 or "in use" not in up.stdout + up.stderr:
                break
        try:
            if up.returncode != 0:
                raise SystemExit(f"fleetdeck up failed:\n{up.stdout}\n{up.stderr}")
            cpu_s = stack_cpu(leaders_of(env, state))
            time.sleep(settle)
            leaders = leaders_of(env, state)
            mem = stack_memory(leaders)
        finally:
            t = time.monotonic()
            down = cli(env, "down")
            down_s = time.monotonic() - t
        fleet_kb = sum(v for k, v in mem.items() if k.startswith("fleet:"))
        parts = {k: v for k, v in mem.items() if not k.startswith("fleet:")}
        parts["fleet instances"] = fleet_kb
        return {"up_to_all_ready_s": round(up_s, 2), "cpu_s_to_ready": round(cpu_s, 1), "down_s": round(down_s, 2), "down_ok": down.returncode == 0,
                "instances": sum(1 for k in leaders.values() if k.startswith("fleet:")),
                "rss_total_mib": round(sum(mem.values()) / 1024, 1),
                "rss_mib": {k: round(v / 1024, 1) for k, v in sorted(parts.items())},
                "rss_per_instance_mib": round(fleet_kb / 1024 / max(1, sum(1 for k in leaders.values()
                                                                             if k.startswith("fleet:"))), 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=15.0, help="seconds at rest before measuring memory")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    t = time.monotonic()
    install = subprocess.run([str(ROOT / "deploy" / "install.sh")], check=False, capture_output=True, text=True,
                             timeout=900)
    install_s = time.monotonic() - t
    if install.returncode != 0:
        raise SystemExit(f"deploy/install.sh failed:\n{install.stdout}\n{install.stderr}")
    runs = [one_run(args.settle) for _ in range(args.runs)]
    summary = {"install_sh_when_installed_s": round(install_s, 2), "runs": runs,
               "median_up_to_all_ready_s": statistics.median(r["up_to_all_ready_s"] for r in runs),
               "median_rss_total_mib": statistics.median(r["rss_total_mib"] for r in runs),
               "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for i, r in enumerate(runs, 1):
        print(f"run {i}: up→all {r['instances']} instances ready in {r['up_to_all_ready_s']:.2f}s "
              f"({r['cpu_s_to_ready']:.1f} CPU-s); "
              f"RSS at rest {r['rss_total_mib']:.0f} MiB {r['rss_mib']}; down in {r['down_s']:.1f}s "
              f"({'clean' if r['down_ok'] else 'NOT clean'})")
    print(f"deploy/install.sh with everything installed: {install_s:.2f}s (deploy/up.sh = that + fleetdeck up)")
    print(f"median: up→ready {summary['median_up_to_all_ready_s']:.2f}s, "
          f"RSS {summary['median_rss_total_mib']:.0f} MiB on {summary['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
