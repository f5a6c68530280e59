"""Helpers to run fleet services as real processes on free loopback ports (tests, benchmarks).

Not used by the services themselves. ``LocalFleet`` wires upstreams directly instance to instance
(no data plane), which is what component tests and benchmarks need.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import httpx

# Who calls whom (same as deploy/fleet.yaml).
UPSTREAMS: dict[str, tuple[str, ...]] = {
    "frontend": ("catalog", "cart", "checkout", "recommendation", "shipping", "orders"),
    "checkout": ("cart", "catalog", "payment", "shipping", "orders"),
    "recommendation": ("catalog",),
}
START_ORDER = ("catalog", "cart", "payment", "shipping", "orders", "recommendation", "checkout", "frontend")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """One ``python -m fleet <service>`` child process."""

    service: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    instance_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Poll /readyz until 200; raise RuntimeError with the log tail if the process dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                r = httpx.get(self.url + "/readyz", timeout=0.5)
                if r.status_code == 200:
                    if r.json().get("instance") != self.instance_id:  # someone else's process on our port
                        raise RuntimeError(f"port {self.port} is answered by {r.text!r}, not {self.instance_id}")
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.service} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def log_lines(self) -> list[dict[str, object]]:
        """The JSON log lines written so far."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode


def start_service(service: str, data_dir: Path, *, port: int | None = None, env: Mapping[str, str] | None = None,
                  upstreams: Mapping[str, str] | None = None, faults: Mapping[str, object] | None = None,
                  version: str = "v1", cpu: int | None = None, python: str = sys.executable) -> ServiceProcess:
    """Start one service (not waiting for readiness); stdout+stderr go to ``<data_dir>/<service>.log``."""
    port = port or free_port()
    svc_dir = data_dir / f"{service}-{version}"
    svc_dir.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "OTEL_"))}
    child_env.update({"FLEET_VERSION": version, "FLEET_INSTANCE_ID": f"{service}-{version}-1",
                      "FLEET_HOST": "127.0.0.1", "FLEET_PORT": str(port), "FLEET_DATA_DIR": str(svc_dir),
                      "PYTHONUNBUFFERED": "1"})
    for name, url in (upstreams or {}).items():
        child_env[f"FLEET_UPSTREAM_{name.upper()}_URL"] = url
    if faults:
        child_env["FLEET_FAULTS"] = json.dumps(dict(faults))
    child_env.update(env or {})
    cmd: list[str] = [python, "-m", "fleet", service]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    log_path = data_dir / f"{service}-{version}.log"
    log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - the child owns it; closed when we stop
    try:
        proc = subprocess.Popen(cmd, env=child_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(Path(__file__).resolve().parent.parent))
    finally:
        log.close()
    return ServiceProcess(service, port, proc, log_path, child_env["FLEET_INSTANCE_ID"])


@dataclass
class LocalFleet:
    """All (or some) services as processes, upstreams wired directly to each other's instance."""

    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    services: Sequence[str] = START_ORDER
    procs: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> Self:
        ports = {s: free_port() for s in self.services}
        try:
            for s in self.services:
                ups = {u: f"http://127.0.0.1:{ports[u]}" for u in UPSTREAMS.get(s, ()) if u in ports}
                self.procs[s] = start_service(s, self.data_dir, port=ports[s], env=self.env, upstreams=ups)
            for p in self.procs.values():
                p.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, service: str) -> str:
        return self.procs[service].url

    def stop(self) -> None:
        for p in self.procs.values():
            p.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the in-process ASGI app registered for its ``host:port`` (no sockets)."""

    def __init__(self) -> None:
        self._apps: dict[str, httpx.ASGITransport] = {}

    def register(self, netloc: str, app: object) -> None:
        self._apps[netloc] = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]

    def unregister(self, netloc: str) -> None:
        self._apps.pop(netloc, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._apps.get(request.url.netloc.decode())
        if target is None:
            raise httpx.ConnectError(f"nothing listens on {request.url.netloc.decode()}", request=request)
        return await target.handle_async_request(request)


def in_process_fleet(data_dir: Path, **kit_options: object) -> tuple[dict[str, object], RoutingTransport, dict[str, str]]:
    """Every service built in this process, calling each other through a RoutingTransport.

    Returns (apps by service, the transport, base URL by service). Service ``s`` answers on
    ``http://127.0.0.1:<9001+i>`` for the transport only: nothing listens on a real port.
    """
    from fleet.kit.settings import FleetSettings
    from fleet.services import build_service

    transport = RoutingTransport()
    urls = {s: f"http://127.0.0.1:{9001 + i}" for i, s in enumerate(START_ORDER)}
    apps: dict[str, object] = {}
    for s in START_ORDER:
        ups = {u: urls[u] for u in UPSTREAMS.get(s, ())}
        settings = FleetSettings(service=s, instance_id=f"{s}-v1-1", data_dir=data_dir / s, upstreams=ups)
        apps[s] = build_service(settings, transport=transport, **kit_options)
        transport.register(urls[s].removeprefix("http://"), apps[s])
    return apps, transport, urls
