"""HAProxy as the local data plane: renders its config, runs the process, drives its runtime API.

Every service has a listener and a backend ``svc_<service>``; each instance is a dynamic server
``<version>__<n>`` added, weighted, drained and deleted through the admin socket (no reloads).
Version percentages become per-server weights with :func:`control_plane.domain.fleet.server_weights`.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from control_plane import procs
from control_plane.domain.fleet import Endpoint, Manifest, server_weights
from control_plane.errors import (
    ConfigError,
    DependencyMissing,
    FleetdeckError,
    NotFoundError,
    PermanentError,
    TemporaryError,
)
from control_plane.settings import Settings

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg.tmpl"
BLOCK_MARK = "#@@ per service"
INSTALL_HINT = "install it with: apt-get install haproxy"


def backend_name(service: str) -> str:
    return f"svc_{service}"


def server_name(service: str, instance_id: str) -> str:
    """``cart-v2-1`` → ``v2__1`` (the version may itself contain dashes; the ordinal never does)."""
    rest = instance_id[len(service) + 1:] if instance_id.startswith(service + "-") else instance_id
    version, _, ordinal = rest.rpartition("-")
    return f"{version}__{ordinal}"


def version_of_server(name: str) -> str:
    return name.rpartition("__")[0]


def render_config(settings: Settings, manifest: Manifest, admin_socket: Path, template: Path = TEMPLATE) -> str:
    """The HAProxy config for ``manifest``: stats/exporter, edge, one listener + backend per service."""
    text = template.read_text()
    head, _, block = text.partition(BLOCK_MARK + "\n")
    edge = next((s.name for s in manifest.services.values() if s.edge), manifest.order[0])
    common = {"host": settings.host, "admin_socket": str(admin_socket), "stats_port": settings.haproxy_stats_port,
              "edge_port": settings.edge_port, "edge_service": edge}
    parts = [Template(head).substitute(common)]
    for name in manifest.order:
        sdef = manifest.services[name]
        parts.append(Template(block).substitute(common, service=name,
                                                listener_port=settings.listener_port(sdef.index)))
    return "\n".join(parts)


@dataclass(frozen=True)
class Adoption:
    """Whether a new control plane keeps the HAProxy its predecessor left running, and why."""

    adopt: bool
    reason: str


def decide_adoption(*, pid: int | None, alive: bool, cmdline: Sequence[str], config_paths: Sequence[str],
                    running_config: str | None, rendered_config: str, socket_answers: bool) -> Adoption:
    """Keep (adopt) a leftover HAProxy only when it is ours, serves exactly the config we would render and
    answers on its admin socket; otherwise it is (re)started, and ``reason`` says why. Pure: no I/O."""
    if not pid:
        return Adoption(False, "no HAProxy pidfile")
    if not alive:
        return Adoption(False, f"HAProxy pid {pid} is not running")
    if not any(p in cmdline for p in config_paths):
        return Adoption(False, f"pid {pid} is not an HAProxy of this state dir (command line: {' '.join(cmdline)!r})")
    if running_config is None:
        return Adoption(False, "its config file is missing")
    if running_config != rendered_config:
        return Adoption(False, "the rendered config differs (ports or services changed)")
    if not socket_answers:
        return Adoption(False, f"HAProxy pid {pid} does not answer on its admin socket")
    return Adoption(True, f"HAProxy pid {pid} runs this state dir's unchanged config and answers")


@dataclass(frozen=True)
class ServerState:
    """One server of a backend as HAProxy reports it."""

    name: str
    addr: str
    port: int
    weight: int
    admin_state: int  # bit flags; 0 = ready, 1/2/4... = maintenance, 8 = drain
    op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping


def parse_servers_state(text: str) -> list[ServerState]:
    """Parse the output of ``show servers state <backend>``."""
    header: list[str] = []
    out: list[ServerState] = []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
            continue
        if not line.strip() or not header or line.strip() == "1":
            continue
        row = dict(zip(header, line.split()))
        if "srv_name" not in row:
            continue
        out.append(ServerState(row["srv_name"], row.get("srv_addr", ""), int(row.get("srv_port", 0) or 0),
                               int(row.get("srv_uweight", 0) or 0), int(row.get("srv_admin_state", 0) or 0),
                               int(row.get("srv_op_state", 0) or 0)))
    return out


class HAProxyRouter:
    """The Router for HAProxy, plus start/stop of the HAProxy process itself."""

    def __init__(self, settings: Settings, manifest: Manifest, *, check_inter_ms: int = 2000) -> None:
        self.settings = settings
        self.manifest = manifest
        self.dir = Path(settings.state_dir) / "haproxy"
        self.config_path = self.dir / "haproxy.cfg"
        self.socket_path = self.dir / "admin.sock"
        self.pid_path = self.dir / "haproxy.pid"
        self.log_path = Path(settings.state_dir) / "logs" / "haproxy.log"
        self._check_inter = check_inter_ms
        self._weights: dict[str, dict[str, int]] = {}
        self._proc: subprocess.Popen | None = None
        self.adopted = False  # True while the process is one an earlier control plane started
        self._lock = threading.Lock()

    # --- process ----------------------------------------------------------------------------------
    def binary(self) -> str:
        found = shutil.which(self.settings.haproxy_bin)
        if not found:
            raise DependencyMissing(f"HAProxy ({self.settings.haproxy_bin!r}) is not installed; {INSTALL_HINT}",
                                    details={"binary": self.settings.haproxy_bin})
        return found

    def write_config(self) -> Path:
        """Render, write and validate the config with ``haproxy -c``."""
        binary = self.binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self.settings, self.manifest, self.socket_path))
        res = subprocess.run([binary, "-c", "-q", "-f", str(self.config_path)], check=False, capture_output=True, text=True,
                             timeout=30)
        if res.returncode != 0:
            raise ConfigError(f"haproxy -c rejected {self.config_path}: {(res.stderr or res.stdout).strip()}")
        return self.config_path

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return procs.read_pidfile(self.pid_path)

    def ports(self) -> list[tuple[str, int]]:
        s = self.settings
        out = [("FLEETDECK_EDGE_PORT", s.edge_port), ("FLEETDECK_HAPROXY_STATS_PORT", s.haproxy_stats_port)]
        out += [("FLEETDECK_LISTENER_PORT_BASE", s.listener_port(self.manifest.services[n].index))
                for n in self.manifest.order]
        return out

    def check_adoption(self) -> Adoption:
        """Whether the HAProxy an earlier control plane left running can be kept (see :func:`decide_adoption`)."""
        pid = self._pidfile_pid()
        alive = procs.pid_alive(pid)
        cmdline = procs.process_cmdline(pid) if pid and alive else []
        paths = [str(self.config_path), str(self.config_path.resolve())]
        try:
            running = self.config_path.read_text()
        except OSError:
            running = None
        rendered = render_config(self.settings, self.manifest, self.socket_path)
        answers = False
        if alive and any(p in cmdline for p in paths) and running == rendered:
            try:
                answers = "Pid:" in self.command("show info", timeout=2.0)
            except FleetdeckError:
                answers = False
        return decide_adoption(pid=pid, alive=alive, cmdline=cmdline, config_paths=paths, running_config=running,
                               rendered_config=rendered, socket_answers=answers)

    def adopt(self) -> bool:
        """Keep a still-running HAProxy of this state dir (its dynamic servers included) instead of restarting
        it, so a control plane restart does not interrupt the data plane; False when it must be (re)started."""
        decision = self.check_adoption()
        if decision.adopt:
            self.adopted = True
            log.info("adopted the running HAProxy (%s); its servers are resynchronised with the desired state",
                     decision.reason)
        elif self._pidfile_pid():
            log.info("not adopting the HAProxy left by an earlier control plane: %s; starting a fresh one",
                     decision.reason)
        return decision.adopt

    def _pidfile_pid(self) -> int | None:
        return procs.read_pidfile(self.pid_path)

    def stop_stale(self) -> None:
        """Stop an HAProxy an earlier control plane left behind with this state dir."""
        pid = self.pid
        if pid and procs.pid_alive(pid) and str(self.config_path) in procs.process_cmdline(pid):
            log.info("stopping the HAProxy (pid %d) left by an earlier control plane", pid)
            procs.stop_pids([pid], grace=5.0)
        self.pid_path.unlink(missing_ok=True)

    def start(self, timeout: float = 15.0) -> None:
        """Start HAProxy in its own session and wait until its admin socket answers."""
        binary = self.binary()
        self.adopted = False
        self.stop_stale()
        procs.check_ports_free(self.ports(), self.settings.host)
        self.write_config()
        self.socket_path.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen([binary, "-db", "-f", str(self.config_path)], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        self.pid_path.write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise PermanentError(f"HAProxy exited at start (code {self._proc.returncode}): {tail.strip()}")
            try:
                self.command("show info")
                log.info("HAProxy up (pid %d), edge on %s:%d", self._proc.pid, self.settings.host,
                         self.settings.edge_port)
                return
            except TemporaryError:
                time.sleep(0.05)
        self.stop()
        raise PermanentError(f"HAProxy did not open its admin socket within {timeout:.0f}s (see {self.log_path})")

    def running(self) -> bool:
        self._reap()
        return procs.pid_alive(self.pid)

    def stop(self, grace: float = 5.0) -> None:
        pid = self.pid
        if pid:
            procs.stop_pids([pid], grace=grace, reap=self._reap)
        procs.reap_child(self._proc)
        self._proc = None
        self.adopted = False
        self.pid_path.unlink(missing_ok=True)

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.poll()

    # --- runtime API -----------------------------------------------------------------------------
    def command(self, cmd: str, timeout: float = 5.0) -> str:
        """Send one command on the admin socket and return its answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.socket_path))
                sock.sendall(cmd.encode() + b"\n")
                chunks = []
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
        except OSError as exc:
            raise TemporaryError(f"HAProxy admin socket {self.socket_path} unreachable: {exc}") from exc
        answer = b"".join(chunks).decode(errors="replace")
        # HAProxy answers a refused command with one message line ("No such server.", "Require
        # 'backend/server'.", "Unknown command ..."); dumps and successes never start like that.
        first = answer.lstrip().split("\n", 1)[0].lower()
        if any(marker in first for marker in ("unknown command", "no such", "not found", "require", "error",
                                              "invalid", "cannot", "unexpected", "must be", "not allowed")):
            raise PermanentError(f"HAProxy refused {cmd!r}: {answer.strip()}")
        return answer

    def servers(self, service: str) -> list[ServerState]:
        self.manifest.get(service)
        return parse_servers_state(self.command(f"show servers state {backend_name(service)}"))

    # --- Router protocol -------------------------------------------------------------------------
    def sync_endpoints(self, service: str, endpoints: Mapping[str, Sequence[Endpoint]]) -> None:
        with self._lock:
            be = backend_name(service)
            current = {s.name: s for s in self.servers(service)}
            wanted = {server_name(service, ep.instance_id): ep for eps in endpoints.values() for ep in eps}
            weights = self._server_weights(service, {v: len(eps) for v, eps in endpoints.items()})
            for name, state in current.items():
                if name not in wanted:
                    self._delete(be, name)
            for name, ep in wanted.items():
                w = weights.get(version_of_server(name), 0)
                state = current.get(name)
                if state is not None and (state.addr != ep.host or state.port != ep.port):
                    self._delete(be, name)
                    state = None
                if state is None:
                    self.command(f"add server {be}/{name} {ep.host}:{ep.port} weight {w} check "
                                 f"inter {self._check_inter} fall 2 rise 1")
                    self.command(f"enable health {be}/{name}")
                    self.command(f"enable server {be}/{name}")
                else:
                    if state.admin_state != 0:
                        self.command(f"set server {be}/{name} state ready")
                    if state.weight != w:
                        self.command(f"set server {be}/{name} weight {w}")

    def set_weights(self, service: str, weights: Mapping[str, int]) -> None:
        with self._lock:
            self.manifest.get(service)
            self._weights[service] = {v: int(w) for v, w in weights.items()}
            be = backend_name(service)
            servers = [s for s in self.servers(service) if not s.admin_state & ~8]
            counts: dict[str, int] = {}
            for s in servers:
                counts[version_of_server(s.name)] = counts.get(version_of_server(s.name), 0) + 1
            per_server = self._server_weights(service, counts)
            for s in servers:
                w = per_server.get(version_of_server(s.name), 0)
                if s.weight != w:
                    self.command(f"set server {be}/{s.name} weight {w}")

    def weights(self, service: str) -> dict[str, int]:
        """Percentages per version computed from the weights HAProxy actually has."""
        totals: dict[str, int] = {}
        for s in self.servers(service):
            if s.admin_state & ~8:  # in maintenance: not taking traffic
                continue
            totals[version_of_server(s.name)] = totals.get(version_of_server(s.name), 0) + s.weight
        grand = sum(totals.values())
        return {v: (round(100 * w / grand) if grand else 0) for v, w in sorted(totals.items())}

    def drain(self, service: str, instance_id: str) -> None:
        name = server_name(service, instance_id)
        try:
            self.command(f"set server {backend_name(service)}/{name} state drain")
        except PermanentError as exc:
            raise NotFoundError(f"{service} has no server {name} in HAProxy") from exc

    # --- helpers ---------------------------------------------------------------------------------
    def _server_weights(self, service: str, counts: Mapping[str, int]) -> dict[str, int]:
        pct = dict(self._weights.get(service, {}))
        live = [v for v, n in counts.items() if n]
        if not any(pct.get(v, 0) for v in counts):
            # No weights set for what runs (a fresh service): share equally rather than answer 503.
            pct = {v: 1 for v in live}
        return server_weights({v: pct.get(v, 0) for v in counts}, counts)

    def _delete(self, backend: str, name: str) -> None:
        self.command(f"set server {backend}/{name} state maint")
        try:
            self.command(f"shutdown sessions server {backend}/{name}")
        except PermanentError:
            pass
        for _ in range(50):
            try:
                self.command(f"del server {backend}/{name}")
                return
            except PermanentError:
                time.sleep(0.05)  # connections still closing
        log.warning("HAProxy kept %s/%s (still has connections); left in maintenance", backend, name)
