"""The control-plane process of local mode: ``python -m control_plane.daemon``.

Starts, in order: the store (migrations), HAProxy, the collectors, Prometheus, the fleet (desired
state from the store, seeded from deploy/fleet.yaml on a first start; live instances re-adopted),
the reconcile loop (a background thread) and the API (uvicorn, in the main thread); then the load
generator once the fleet is ready. SIGTERM or SIGINT stops everything in reverse order. Every
process it starts has a pidfile in the state dir, so :func:`stop_leftovers` can clean up after a
control plane that was killed without a chance to stop its children.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from control_plane import procs
from control_plane.api.app import create_app
from control_plane.api.bootstrap import bootstrap
from control_plane.api.context import AppContext
from control_plane.domain.fleet import Health
from control_plane.errors import FleetdeckError
from control_plane.fleet_service import FleetService
from control_plane.local_state import PIDFILE, running_daemon_pid, stop_leftovers
from control_plane.manifest import load_manifest
from control_plane.metrics.local_prometheus import LocalPrometheus
from control_plane.metrics.prometheus import PrometheusMetrics
from control_plane.observability import configure_tracing
from control_plane.rollouts.wiring import start_controller
from control_plane.routers.haproxy import HAProxyRouter
from control_plane.runtimes.local import LocalRuntime
from control_plane.settings import RouterKind, RuntimeKind, Settings, load_settings
from control_plane.store import migrate
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo

log = logging.getLogger("control_plane.daemon")
RECONCILE_INTERVAL_S = 1.0


class ChildProcess:
    """A helper process (collectors, load generator) with a pidfile and a log file in the state dir."""

    def __init__(self, name: str, argv: list[str], state_dir: Path, env: Mapping[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, dict(env)
        self.pid_path = state_dir / "run" / f"{name}.pid"
        self.log_path = state_dir / "logs" / f"{name}.log"
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True,
                                          cwd=Path(__file__).resolve().parents[1])
        self.pid_path.write_text(str(self._proc.pid))
        log.info("started %s (pid %d)", self.name, self._proc.pid)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self._proc is not None:
            procs.stop_pids([self._proc.pid], grace=grace, reap=lambda: self._proc.poll() if self._proc else None)
            procs.reap_child(self._proc)
            self._proc = None
        self.pid_path.unlink(missing_ok=True)


def wait_http(url: str, timeout: float, alive: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class Daemon:
    """Owns every part of a local control plane; ``run`` blocks until SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, base_env: Mapping[str, str], *, python: str = sys.executable) -> None:
        if settings.runtime is not RuntimeKind.LOCAL or settings.router is not RouterKind.HAPROXY:
            raise FleetdeckError(f"the local daemon runs runtime=local and router=haproxy, not "
                                 f"{settings.runtime.value}/{settings.router.value}")
        self.settings = settings
        self.state_dir = Path(settings.state_dir).resolve()
        self.base_env = dict(base_env)
        self.python = python
        self.manifest, self.initial = load_manifest(settings.fleet_manifest, settings.default_replicas)
        self.router = HAProxyRouter(settings, self.manifest)
        self.prometheus = LocalPrometheus(settings)
        self.collectors: ChildProcess | None = None
        self.loadgen: ChildProcess | None = None
        self.dashboard: ChildProcess | None = None
        self.runtime: LocalRuntime | None = None
        self.fleet: FleetService | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._rollouts_thread: threading.Thread | None = None
        self._last_restart: dict[str, float] = {}
        self._server: Any = None
        self._tracer_provider: Any = None
        self._owns_state = False  # set once our pidfile is written: only then may stop() touch pidfiles

    # --- start ------------------------------------------------------------------------------------
    def _check_ports(self, router_ports: bool = True) -> None:
        s = self.settings
        ports = [("FLEETDECK_API_PORT", s.api_port), ("FLEETDECK_PROMETHEUS_PORT", s.prometheus_port)]
        ports.append(("FLEETDECK_COLLECTOR_PORT", s.collector_port))
        if s.dashboard:
            ports.append(("FLEETDECK_DASHBOARD_PORT", s.dashboard_port))
        ports += self.router.ports()
        # An adopted HAProxy holds its own ports: they are in use, by design, but still checked for clashes.
        procs.check_ports_free(ports if router_ports else ports[:-len(self.router.ports())], s.host)
        seen: dict[int, str] = {}
        for name, port in ports:
            if port in seen and not (name == seen[port] == "FLEETDECK_LISTENER_PORT_BASE"):
                raise FleetdeckError(f"{name} and {seen[port]} both use port {port}")
            seen[port] = name

    def start(self) -> None:
        s = self.settings
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the CLI token and logs
        other = running_daemon_pid(s)
        if other is not None and other != os.getpid():
            raise FleetdeckError(f"a control plane (pid {other}) already runs with state dir {self.state_dir}")
        (self.state_dir / PIDFILE).write_text(str(os.getpid()))
        self._owns_state = True
        self.router.binary()
        self.prometheus.binary()
        # A predecessor's HAProxy is kept when it serves the same config, so a restart of the control plane
        # does not interrupt the data plane; everything else it left is stopped and started again.
        adopted = self.router.adopt()
        stop_leftovers(s, include_instances=False, include_haproxy=not adopted)
        self._check_ports(router_ports=not adopted)
        migrate.upgrade(s.control_db_url)
        sessions = make_sessionmaker(make_engine(s.control_db_url))
        repo = FleetRepo(sessions)
        if not adopted:
            self.router.start()
        # Collectors and Prometheus start while the fleet does; both are waited for below.
        otlp = self._launch_collectors()
        self.prometheus.launch()
        static = [{"targets": [f"{s.host}:{s.haproxy_stats_port}"], "labels": {"job": "haproxy"}},
                  {"targets": [f"{s.host}:{s.api_port}"], "labels": {"job": "control-plane"}}]
        if otlp:
            static.append({"targets": [f"{s.host}:{s.collector_port}"], "labels": {"job": "collectors"}})
        self.runtime = LocalRuntime(self.manifest, repo, self.state_dir, listener_port=s.listener_port,
                                    router=self.router, otlp_endpoint=otlp, base_env=self.base_env,
                                    python=self.python)
        metrics = PrometheusMetrics(self.prometheus.url)
        self.fleet = FleetService(s, self.manifest, repo, self.runtime, self.router, metrics,
                                  initial=self.initial, static_targets=static)
        if self.fleet.bootstrap():
            log.info("first start: deployed %s of every service from %s", self.initial.version, s.fleet_manifest)
        self.runtime.adopt()
        if adopted:  # reconcile the adopted HAProxy's servers and weights with the desired state
            self.runtime.resync_router(every_service=True)
        self.fleet.start()
        self.ctx = AppContext(settings=s, sessions=sessions, fleet=self.fleet, metrics=metrics,
                              collectors_url=otlp or "")
        # The control plane's own API spans go to the collectors like the fleet's.
        self._tracer_provider = configure_tracing(otlp)
        self.ctx.extras["tracer_provider"] = self._tracer_provider
        self._bootstrap_auth()
        self._start_rollouts(metrics)
        self._loop = threading.Thread(target=self._reconcile_loop, name="reconcile", daemon=True)
        self._loop.start()
        self.prometheus.wait_ready()
        if otlp and not self._collectors_ready():
            self.ctx.collectors_url = ""
            self.fleet.static_targets = [t for t in self.fleet.static_targets if t["labels"]["job"] != "collectors"]
        if s.loadgen:
            threading.Thread(target=self._start_loadgen_when_ready, name="loadgen-start", daemon=True).start()
        if s.dashboard:
            self._start_dashboard()

    def _start_dashboard(self) -> None:
        """The Reflex dashboard (`reflex run --env prod`), a pure client of this API, on dashboard_port."""
        s = self.settings
        root = Path(__file__).resolve().parents[1]
        bun_bin = root / ".tools" / "bun" / "node_modules" / ".bin"
        if not (bun_bin / "bun").exists():
            log.warning("bun is not installed (run deploy/install.sh); starting without the dashboard")
            return
        env = dict(self.base_env)
        env.update(PATH=f"{bun_bin}{os.pathsep}{env.get('PATH', '')}", REFLEX_USE_SYSTEM_BUN="1",
                   FLEETDECK_API_URL=s.api_url, FLEETDECK_DASHBOARD_PORT=str(s.dashboard_port))
        self.dashboard = ChildProcess("dashboard", [self.python, "-m", "reflex", "run", "--env", "prod"],
                                      self.state_dir, env)
        self.dashboard.start()

    def _bootstrap_auth(self) -> None:
        bootstrap(self.ctx, emit=lambda line: print(line, flush=True))

    def _start_rollouts(self, metrics: PrometheusMetrics) -> None:
        """Run the rollout controller (its own loop thread) when the rollouts package is present."""
        _, self._rollouts_thread = start_controller(self.ctx, self.fleet, self.runtime, self.router, metrics,
                                                    self._stop)

    def _launch_collectors(self) -> str | None:
        """Start the collectors (not waiting); their OTLP endpoint, or None when the module is missing."""
        s = self.settings
        self.collectors = ChildProcess("collectors", [self.python, "-m", "collectors", "--host", s.host, "--port",
                                                      str(s.collector_port), "--db-url", s.telemetry_store_url],
                                       self.state_dir, self.base_env)
        self.collectors.start()
        return f"http://{s.host}:{s.collector_port}"

    def _collectors_ready(self) -> bool:
        assert self.collectors is not None
        s = self.settings
        if wait_http(f"http://{s.host}:{s.collector_port}/healthz", 30, self.collectors.alive):
            return True
        log.warning("the collectors did not become ready (see %s); running without them", self.collectors.log_path)
        self.collectors.stop()
        self.collectors = None
        return False

    def _start_loadgen_when_ready(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.all_ready():
                break
            self._stop.wait(1.0)
        if self._stop.is_set():
            return
        s = self.settings
        self.loadgen = ChildProcess("loadgen", [self.python, "-m", "fleet.loadgen", "--target",
                                                f"http://{s.host}:{s.edge_port}", "--rate", f"{s.loadgen_rate:g}",
                                                "--duration", "86400"], self.state_dir, self.base_env)
        self.loadgen.start()
        self._last_restart["loadgen"] = time.monotonic()

    def _due(self, part: str, every: float = 30.0) -> bool:
        """Rate-limit restarts of one part: a part that keeps dying is retried, not spun on."""
        now = time.monotonic()
        if now - self._last_restart.get(part, -every) < every:
            return False
        self._last_restart[part] = now
        return True

    def _supervise(self) -> None:
        """Start again whatever helper process died: HAProxy, Prometheus, collectors, load generator."""
        if not self.router.running() and self._due("haproxy", 5.0):
            log.warning("HAProxy is gone; starting it again")
            self.router.start()
            assert self.runtime is not None and self.fleet is not None
            self.runtime.resync_router()
            self.fleet.start()
        if not self.prometheus.running() and self._due("prometheus"):
            log.warning("Prometheus is gone; starting it again")
            self.prometheus.start()
        for part in (self.collectors, self.loadgen, self.dashboard):
            # Shoppers also stop after their longest run (a day): they are started again here.
            if part is not None and not part.alive() and self._due(part.name):
                log.warning("%s exited (see %s); starting it again", part.name, part.log_path)
                part.start()

    def all_ready(self) -> bool:
        insts = self.runtime.instances() if self.runtime else []
        return bool(insts) and all(i.health is Health.READY for i in insts)

    def _reconcile_loop(self) -> None:
        assert self.runtime is not None
        while not self._stop.is_set():
            try:
                self._supervise()
                self.runtime.reconcile_once()
            except Exception:  # the loop must survive anything one pass throws; logged with its traceback
                log.exception("reconcile pass failed")
            self.runtime.wake.wait(RECONCILE_INTERVAL_S)
            self.runtime.wake.clear()

    # --- serve and stop ---------------------------------------------------------------------------
    def serve(self) -> None:
        import uvicorn

        app = create_app(self.ctx)
        if not any(getattr(r, "path", None) == "/metrics" for r in app.routes):
            from prometheus_client import make_asgi_app

            app.mount("/metrics", make_asgi_app())
        config = uvicorn.Config(app, host=self.settings.host, port=self.settings.api_port, log_level="warning",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._server.run()

    def request_stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True

    def stop(self) -> None:
        """Stop everything this daemon started, in reverse order."""
        self._stop.set()
        if not self._owns_state:
            return
        if self.runtime is not None:
            self.runtime.wake.set()
        if self._loop is not None:
            self._loop.join(timeout=30)
        if self._rollouts_thread is not None:
            self._rollouts_thread.join(timeout=30)
        if self.loadgen is not None:
            self.loadgen.stop(grace=5)
        if self.dashboard is not None:
            self.dashboard.stop(grace=10)
        if self.runtime is not None:
            self.runtime.shutdown()
        # The helpers stop side by side (each flushes on SIGTERM), then each forgets its pidfile.
        stoppers = [threading.Thread(target=part.stop, name=f"stop-{name}") for name, part in
                    (("prometheus", self.prometheus), ("collectors", self.collectors), ("haproxy", self.router))
                    if part is not None]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=30)
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()  # flush the last API spans
        (self.state_dir / PIDFILE).unlink(missing_ok=True)
        log.info("control plane stopped")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        daemon = Daemon(settings, os.environ)
    except FleetdeckError as exc:
        print(f"fleetdeck: {exc.message}", file=sys.stderr)
        return 1

    started = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if not started.is_set():
            raise SystemExit(128 + signum)
        daemon.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
        started.set()
        daemon.serve()
        return 0
    except FleetdeckError as exc:
        print(f"fleetdeck: {exc.message}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        daemon.stop()


if __name__ == "__main__":
    sys.exit(main())
