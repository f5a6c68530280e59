"""The whole local stack (``fleetdeck up``) on free ports with a temporary state dir, driven through
the public API with real tokens; shared by tests/e2e/test_rollouts_real.py and
benchmarks/rollout_real.py.

Every process the stack starts has a pidfile in the state dir; :meth:`RealStack.down` runs
``fleetdeck down`` and then SIGKILLs whatever is still alive among every pid it ever saw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from control_plane import procs
from control_plane.manifest import load_manifest
from control_plane.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(Settings().fleet_manifest)[0]
N_SERVICES = len(MANIFEST.order)
TERMINAL = {"promoted", "rolled_back", "failed"}


def listener_base(n: int) -> int:
    while True:
        base = procs.free_port()
        if base + n < 65000 and all(procs.port_is_free(base + i) for i in range(n)):
            return base


class RealStack:
    """One local stack; ``api`` is an admin client (the CLI token the daemon writes)."""

    def __init__(self, state: Path, *, loadgen_rate: float = 14.0, scrape_interval_s: float = 2.0) -> None:
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
        self.env.update(FLEETDECK_DASHBOARD="0", FLEETDECK_STATE_DIR=str(state), FLEETDECK_SCRAPE_INTERVAL_S=f"{scrape_interval_s:g}",
                        FLEETDECK_LOADGEN_RATE=f"{loadgen_rate:g}",
                        FLEETDECK_ADMIN_PASSWORD="e2e-admin-password", PYTHONPATH=str(ROOT))
        self.ports: dict[str, int] = {}
        self.pick_ports()
        self.seen: set[int] = set()
        self._api: httpx.Client | None = None

    def pick_ports(self) -> None:
        self.ports = {name: procs.free_port() for name in ("API", "EDGE", "HAPROXY_STATS", "PROMETHEUS", "COLLECTOR")}
        self.env.update({f"FLEETDECK_{k}_PORT": str(v) for k, v in self.ports.items()})
        self.env["FLEETDECK_LISTENER_PORT_BASE"] = str(listener_base(N_SERVICES))

    # --- processes --------------------------------------------------------------------------------
    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "control_plane.cli.main", *args], check=False, env=self.env,
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def up(self, timeout: float = 240, *, fresh_ports_on_conflict: bool = True) -> None:
        for _ in range(3):  # the machine is shared: a free port may be taken before the daemon binds it
            res = self.cli("up", "--timeout", f"{timeout:g}", timeout=timeout + 60)
            if res.returncode == 0 or not fresh_ports_on_conflict or "is in use" not in res.stdout + res.stderr:
                break
            self.pick_ports()
        if self._api is not None:  # a new daemon may have written a new token
            self._api.close()
            self._api = None
        self.remember()
        if res.returncode != 0:
            raise RuntimeError(f"fleetdeck up failed: {res.stdout}\n{res.stderr}\n{self.daemon_log()[-3000:]}")

    def daemon_log(self) -> str:
        for name in ("logs/daemon.log", "daemon.log"):
            p = self.state / name
            if p.exists():
                return p.read_text(errors="replace")
        return ""

    def pidfile(self, rel: str) -> int | None:
        try:
            return int((self.state / rel).read_text())
        except (OSError, ValueError):
            return None

    def pids(self) -> set[int]:
        out: set[int] = set()
        try:
            for i in self.admin.get("/api/v1/instances").json():
                if i.get("pid"):
                    out.add(int(i["pid"]))
        except (httpx.HTTPError, OSError, ValueError, TypeError, KeyError):
            pass
        for f in ("daemon.pid", "haproxy/haproxy.pid", "prometheus/prometheus.pid", "run/collectors.pid",
                  "run/loadgen.pid", "run/dashboard.pid"):
            pid = self.pidfile(f)
            if pid:
                out.add(pid)
        return out

    def remember(self) -> None:
        self.seen |= self.pids()

    def down(self) -> list[int]:
        """``fleetdeck down``, then SIGKILL anything left; returns the pids that had to be killed."""
        self.remember()
        if self._api is not None:
            self._api.close()
            self._api = None
        try:
            self.cli("down", timeout=120)
        except subprocess.TimeoutExpired:
            pass
        left = [p for p in self.seen if procs.pid_alive(p)]
        for pid in left:
            procs.signal_group(pid, signal.SIGKILL)
        return left

    # --- API ----------------------------------------------------------------------------------------
    @property
    def admin(self) -> httpx.Client:
        if self._api is None:
            token = (self.state / "cli-token").read_text().strip()
            self._api = httpx.Client(base_url=self.url("API"), headers={"Authorization": f"Bearer {token}"},
                                     timeout=20)
        return self._api

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url("API"), headers={"Authorization": f"Bearer {token}"}, timeout=20)

    def make_token(self, name: str, role: str) -> str:
        r = self.admin.post("/api/v1/tokens", json={"name": name, "role": role})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def instances(self) -> list[dict[str, Any]]:
        r = self.admin.get("/api/v1/instances")
        r.raise_for_status()
        return list(r.json())

    def service(self, name: str) -> dict[str, Any]:
        r = self.admin.get(f"/api/v1/services/{name}")
        r.raise_for_status()
        return dict(r.json())

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            insts = self.instances()
            if insts and all(i["health"] == "ready" for i in insts):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready: {[(i['id'], i['health']) for i in insts]}")
            time.sleep(0.5)

    def reset_service(self, service: str, stable: str = "v1") -> None:
        """Only ``stable`` serving ``service`` (100%), every other version removed; waits until its instances are up."""
        svc = self.service(service)
        others = [v["version"] for v in svc["versions"] if v["version"] != stable]
        stable_row = next((v for v in svc["versions"] if v["version"] == stable), None)
        if stable_row is None or stable_row["replicas"] < 1:
            r = self.admin.put(f"/api/v1/services/{service}/versions/{stable}", json={"replicas": 1})
            assert r.status_code < 300, r.text
        if others or (stable_row and stable_row["weight"] != 100):
            r = self.admin.put(f"/api/v1/services/{service}/weights", json={"weights": {stable: 100}})
            assert r.status_code < 300, r.text
        for v in others:
            r = self.admin.delete(f"/api/v1/services/{service}/versions/{v}")
            assert r.status_code < 300, r.text
        deadline = time.monotonic() + 90
        while True:
            insts = [i for i in self.instances() if i["id"].startswith(f"{service}-")]
            if insts and all(i["id"].startswith(f"{service}-{stable}-") and i["health"] == "ready" for i in insts):
                return
            assert time.monotonic() < deadline, insts
            time.sleep(0.5)

    def prepare_canary(self, service: str, version: str, faults: dict[str, Any] | None = None) -> None:
        """Declare the canary version at 0 replicas with its faults, so the rollout starts it with them."""
        body: dict[str, Any] = {"replicas": 0}
        if faults:
            body["faults"] = faults
        r = self.admin.put(f"/api/v1/services/{service}/versions/{version}", json=body)
        assert r.status_code < 300, r.text

    def start_rollout(self, client: httpx.Client, spec: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        r = client.post("/api/v1/rollouts", json=spec, headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def rollout(self, rid: str, client: httpx.Client | None = None) -> dict[str, Any]:
        r = (client or self.admin).get(f"/api/v1/rollouts/{rid}")
        r.raise_for_status()
        return dict(r.json())

    def wait_rollout(self, rid: str, until: Any, timeout: float, poll: float = 0.5) -> dict[str, Any]:
        """Poll until ``until(rollout)`` (a phase name, a set of them, or a predicate)."""
        if isinstance(until, str):
            phases = {until}
            until = lambda ro: ro["phase"] in phases
        elif isinstance(until, (set, frozenset)):
            phases = set(until)
            until = lambda ro: ro["phase"] in phases
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.rollout(rid)
            except httpx.HTTPError:
                time.sleep(poll)
                continue
            if until(last):
                return last
            time.sleep(poll)
        raise AssertionError(f"rollout {rid} timed out: phase={last.get('phase')} reason={last.get('reason')}\n"
                             + "\n".join(f"{h.get('at')} {h.get('kind')} {h.get('reason')}"
                                         for h in last.get("history", [])[-25:]))

    # --- data plane --------------------------------------------------------------------------------
    def haproxy_metrics(self) -> str:
        return httpx.get(self.url("HAPROXY_STATS", "/metrics"), timeout=10).text

    def haproxy_weights(self, service: str) -> dict[str, int]:
        """Current weight of each server of ``svc_<service>`` from HAProxy's runtime stats (the data plane itself)."""
        r = httpx.get(self.url("HAPROXY_STATS", "/stats;csv;norefresh"), timeout=10)
        out: dict[str, int] = {}
        lines = r.text.splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == f"svc_{service}" and row.get("svname") not in ("FRONTEND", "BACKEND"):
                try:
                    out[row["svname"]] = int(row.get("weight") or 0) if row.get("status", "") != "MAINT" else 0
                except ValueError:
                    out[row["svname"]] = 0
        return out

    def edge_requests(self) -> float:
        text = self.haproxy_metrics()
        total = 0.0
        for m in re.finditer(r'haproxy_frontend_http_requests_total\{proxy="([^"]+)"\} ([0-9.e+]+)', text):
            if m.group(1) in ("edge", "fe_edge", "storefront"):
                total += float(m.group(2))
        return total

    def prom_query(self, q: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": q}
        if at is not None:
            params["time"] = f"{at:.3f}"
        r = httpx.get(self.url("PROMETHEUS", "/api/v1/query"), params=params, timeout=10)
        r.raise_for_status()
        return list(r.json()["data"]["result"])

    def instance_counters(self, port: int) -> dict[str, float]:
        """Requests and 5xx served by one fleet instance, read from its own /metrics."""
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        req = err = 0.0
        for m in re.finditer(r'^fleet_http_requests_total\{(.*)\} ([0-9.e+]+)$', text, re.MULTILINE):  # routes hold braces
            v = float(m.group(2))
            req += v
            if re.search(r'code="5\d\d"', m.group(1)):
                err += v
        return {"requests": req, "errors": err}


def history_text(ro: dict[str, Any]) -> str:
    return "\n".join(f"{h.get('kind')}: {h.get('reason')}" for h in ro.get("history", []))


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:6000]
