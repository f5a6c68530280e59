"""The local runtime: every service instance is a child process on this machine.

Each instance runs as ``<python> -m fleet <service>`` in its own session, so it outlives a crash of
the control plane; its pid and port are stored, and a restarted control plane re-adopts it when the
pid is alive and its ``/readyz`` answers with the same instance id. A dead instance is restarted
after an exponential back-off measured on an injected clock (unit tests drive it without sleeping).
Unwanted instances are drained in the router first, then sent SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from control_plane import procs
from control_plane.domain.fleet import Endpoint, Health, Instance, Manifest, VersionSpec
from control_plane.errors import FleetdeckError, NotFoundError
from control_plane.interfaces import Router
from control_plane.store.fleet_repo import FleetRepo, InstanceRecord

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class BackOff:
    """Delay before restart number ``failures`` (1, 2, ...) of an instance that keeps dying."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    # An instance ready this long is considered healthy again: its failure count resets.
    reset_after: float = 30.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.base * self.factor ** (failures - 1)))


class ProcessHandle(Protocol):
    """A started (or re-adopted) instance process."""

    pid: int

    def alive(self) -> bool: ...

    def signal_stop(self, force: bool = False) -> None: ...


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one instance process."""

    instance_id: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path


class PopenHandle:
    """A process we started: ``alive`` also reaps it when it exits."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        self.pid = proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def signal_stop(self, force: bool = False) -> None:
        procs.signal_group(self.pid, 9 if force else 15)


class AdoptedHandle:
    """A live process started by an earlier control plane (not our child: it cannot be reaped here)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def alive(self) -> bool:
        return procs.pid_alive(self.pid)

    def signal_stop(self, force: bool = False) -> None:
        procs.signal_group(self.pid, 9 if force else 15)


def spawn_process(launch: Launch) -> ProcessHandle:
    """Start an instance in its own session with its output appended to its log file."""
    launch.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(launch.log_path, "ab") as out:
        proc = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return PopenHandle(proc)


class HttpProbe:
    """Reads an instance's ``/readyz`` and pushes faults to ``/_fleet/faults``."""

    def __init__(self, timeout: float = 2.0) -> None:
        self._http = httpx.Client(timeout=timeout)

    def ready(self, port: int) -> dict | None:
        try:
            resp = self._http.get(f"http://{HOST}:{port}/readyz")
            if resp.status_code == 200:
                body = resp.json()
                return body if isinstance(body, dict) else {}
        except (httpx.HTTPError, ValueError):
            pass
        return None

    def put_faults(self, port: int, faults: Mapping[str, object]) -> bool:
        try:
            return self._http.put(f"http://{HOST}:{port}/_fleet/faults", json=dict(faults)).status_code < 300
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()


@dataclass
class _Slot:
    """What the runtime knows of one instance (wanted or being stopped)."""

    id: str
    service: str
    version: str
    ordinal: int
    port: int
    handle: ProcessHandle | None = None
    health: Health = Health.CRASHED
    restarts: int = 0
    ever_started: bool = False
    started_at: float = 0.0  # wall clock, for display
    start_deadline: float = 0.0  # runtime clock
    next_start: float = 0.0  # runtime clock; start when now >= next_start
    failures: int = 0  # consecutive deaths / failed starts
    ready_since: float | None = None
    check_failures: int = 0
    faults_applied: dict | None = None
    restart_requested: bool = False


def instance_id(service: str, version: str, ordinal: int) -> str:
    return f"{service}-{version}-{ordinal}"


class LocalRuntime:
    """Runtime driver for child processes. ``reconcile_once`` is called by the daemon's loop thread."""

    def __init__(self, manifest: Manifest, repo: FleetRepo, state_dir: Path, *,
                 listener_port: Callable[[int], int], router: Router | None = None,
                 otlp_endpoint: str | None = None, base_env: Mapping[str, str] | None = None,
                 python: str = sys.executable, argv_for: Callable[[str], list[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 spawn: Callable[[Launch], ProcessHandle] = spawn_process, probe: HttpProbe | None = None,
                 port_picker: Callable[[], int] = procs.free_port,
                 port_free: Callable[[int], bool] = procs.port_is_free,
                 backoff: BackOff = BackOff(), start_timeout: float = 60.0, stop_grace: float = 5.0,
                 max_check_failures: int = 3, telemetry: bool = True) -> None:
        self.manifest = manifest
        self.repo = repo
        self.state_dir = Path(state_dir)
        self.router = router
        self._listener_port = listener_port
        self._otlp = otlp_endpoint
        self._base_env = dict(base_env or {})
        self._argv_for = argv_for or (lambda service: [python, "-m", "fleet", service])
        self._clock, self._wall = clock, wall
        self._spawn, self._probe = spawn, probe or HttpProbe()
        self._pick_port, self._port_free = port_picker, port_free
        self.backoff = backoff
        self.start_timeout, self.stop_grace = start_timeout, stop_grace
        self.max_check_failures = max_check_failures
        self._telemetry = telemetry
        self._desired: dict[tuple[str, str], VersionSpec] = {}
        self._slots: dict[str, _Slot] = {}
        self._synced: dict[str, dict[str, tuple[Endpoint, ...]]] = {}
        self._lock = threading.RLock()  # guards _slots and _desired; held by one reconcile pass
        self._snapshot: list[Instance] = []
        self.wake = threading.Event()

    # --- Runtime protocol -------------------------------------------------------------------------
    def apply(self, desired: Sequence[VersionSpec]) -> None:
        with self._lock:
            self._desired = {(s.service, s.version): s for s in desired}
        self.wake.set()

    def instances(self) -> list[Instance]:
        return list(self._snapshot)

    def restart(self, instance_id: str) -> None:
        with self._lock:
            slot = self._slots.get(instance_id)
            if slot is None or (slot.service, slot.version) not in self._desired:
                known = ", ".join(sorted(self._slots)) or "none"
                raise NotFoundError(f"unknown instance {instance_id!r} (known: {known})",
                                    details={"instance": instance_id})
            slot.restart_requested = True
        self.wake.set()

    def shutdown(self) -> None:
        """Stop every instance (drain, SIGTERM all at once, SIGKILL after the grace) and forget them."""
        with self._lock:
            slots = list(self._slots.values())
            for slot in slots:
                self._drain(slot)
            handles = [s.handle for s in slots if s.handle is not None and s.handle.alive()]
            for h in handles:
                h.signal_stop()
            deadline = time.monotonic() + self.stop_grace  # real waiting, not back-off logic: not the injected clock
            while any(h.alive() for h in handles) and time.monotonic() < deadline:
                time.sleep(0.05)
            for h in handles:
                if h.alive():
                    h.signal_stop(force=True)
            _await_exit(handles)
            for slot in slots:
                self.repo.delete_instance(slot.id)
            self._slots.clear()
            self._snapshot = []
        self._probe.close()

    # --- re-adoption ----------------------------------------------------------------------------
    def adopt(self) -> list[str]:
        """Take over the instances an earlier control plane left running; returns the ids adopted."""
        adopted: list[str] = []
        with self._lock:
            for rec in self.repo.instances():
                slot = _Slot(rec.id, rec.service, rec.version, rec.ordinal, rec.port, restarts=rec.restarts,
                             ever_started=True, started_at=rec.started_at)
                if rec.pid and procs.pid_alive(rec.pid):
                    info = self._probe.ready(rec.port)
                    if info is not None and info.get("instance") == rec.id:
                        slot.handle = AdoptedHandle(rec.pid)
                        slot.health = Health.READY
                        slot.ready_since = self._clock()
                        adopted.append(rec.id)
                    elif procs.process_env(rec.pid).get("FLEET_INSTANCE_ID") == rec.id:
                        # Ours but not answering: stop it; the loop starts a fresh one.
                        procs.stop_pids([rec.pid], grace=self.stop_grace)
                slot.next_start = self._clock()
                self._slots[rec.id] = slot
            self._publish()
        log.info("re-adopted %d instance(s): %s", len(adopted), ", ".join(adopted) or "-")
        return adopted

    # --- the reconcile pass -----------------------------------------------------------------------
    def reconcile_once(self) -> None:
        with self._lock:
            wanted: dict[str, VersionSpec] = {}
            for spec in self._desired.values():
                for n in range(1, spec.replicas + 1):
                    wanted[instance_id(spec.service, spec.version, n)] = spec
            for iid in [i for i in self._slots if i not in wanted]:
                self._stop(self._slots.pop(iid))
                self.repo.delete_instance(iid)
            for iid, spec in wanted.items():
                slot = self._slots.get(iid)
                if slot is None:
                    ordinal = int(iid.rsplit("-", 1)[1])
                    slot = _Slot(iid, spec.service, spec.version, ordinal, 0, next_start=self._clock())
                    self._slots[iid] = slot
                self._step(slot, spec)
            self._sync_router()
            self._publish()

    def _step(self, slot: _Slot, spec: VersionSpec) -> None:
        now = self._clock()
        if slot.restart_requested:
            slot.restart_requested = False
            if slot.handle is not None:
                self._stop(slot)
            slot.health, slot.next_start = Health.CRASHED, now
        if slot.handle is not None and not slot.handle.alive():
            log.warning("instance %s (pid %s) exited", slot.id, slot.handle.pid)
            self._failed(slot, now)
        if slot.handle is None:
            if now >= slot.next_start:
                self._start(slot, spec)
            return
        info = self._probe.ready(slot.port)
        ok = info is not None and info.get("instance", slot.id) == slot.id
        if slot.health is Health.STARTING:
            if ok:
                slot.health, slot.ready_since, slot.check_failures = Health.READY, now, 0
                log.info("instance %s ready on port %d", slot.id, slot.port)
            elif now >= slot.start_deadline:
                log.warning("instance %s not ready after %.0fs; killing it", slot.id, self.start_timeout)
                self._kill(slot)
                self._failed(slot, now)
                return
        elif ok:
            slot.health, slot.check_failures = Health.READY, 0
            if slot.ready_since is None:
                slot.ready_since = now
            if slot.failures and now - slot.ready_since >= self.backoff.reset_after:
                slot.failures = 0
        else:
            slot.check_failures += 1
            slot.health, slot.ready_since = Health.UNHEALTHY, None
            if slot.check_failures >= self.max_check_failures:
                log.warning("instance %s failed %d health checks; restarting it", slot.id, slot.check_failures)
                self._stop(slot)
                self._failed(slot, now)
                return
        wanted_faults = spec.faults.to_dict()
        if slot.health is Health.READY and slot.faults_applied != wanted_faults \
                and self._probe.put_faults(slot.port, wanted_faults):
            slot.faults_applied = wanted_faults

    def _failed(self, slot: _Slot, now: float) -> None:
        slot.handle = None
        slot.health, slot.ready_since = Health.CRASHED, None
        slot.failures += 1
        slot.next_start = now + self.backoff.delay(slot.failures)

    def _start(self, slot: _Slot, spec: VersionSpec) -> None:
        if not slot.port or not self._port_free(slot.port):
            slot.port = self._pick_port()
        sdef = self.manifest.get(slot.service)
        # A service owns one datastore, shared by all its versions and replicas (as a real service's
        # database outlives a release): a cart filled on v1 is still there when v2 serves it.
        data_dir = self.state_dir / "data" / slot.service
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(self._base_env)
        env.update({
            "FLEET_VERSION": slot.version, "FLEET_INSTANCE_ID": slot.id, "FLEET_HOST": HOST,
            "FLEET_PORT": str(slot.port), "FLEET_DATA_DIR": str(data_dir),
            "FLEET_FAULTS": _json(spec.faults.to_dict()), "FLEET_TELEMETRY": "on" if self._telemetry else "off",
        })
        for up in sdef.upstreams:
            port = self._listener_port(self.manifest.get(up).index)
            env[f"FLEET_UPSTREAM_{up.upper().replace('-', '_')}_URL"] = f"http://{HOST}:{port}"
        if self._otlp:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self._otlp
        else:
            env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        launch = Launch(slot.id, self._argv_for(slot.service), env,
                        self.state_dir / "logs" / f"{slot.id}.log", Path(__file__).resolve().parents[2])
        try:
            slot.handle = self._spawn(launch)
        except OSError as exc:
            log.error("cannot start %s: %s", slot.id, exc)
            self._failed(slot, self._clock())
            return
        if slot.ever_started:
            slot.restarts += 1
        slot.ever_started = True
        slot.health, slot.check_failures = Health.STARTING, 0
        slot.started_at = self._wall()
        slot.start_deadline = self._clock() + self.start_timeout
        slot.faults_applied = spec.faults.to_dict()
        self.repo.save_instance(InstanceRecord(slot.id, slot.service, slot.version, slot.ordinal, slot.port,
                                               slot.handle.pid, slot.started_at, slot.restarts))
        log.info("started %s (pid %d, port %d, restarts %d)", slot.id, slot.handle.pid, slot.port, slot.restarts)

    def _drain(self, slot: _Slot) -> None:
        if self.router is None or slot.health is not Health.READY:
            return
        try:
            self.router.drain(slot.service, slot.id)
        except (FleetdeckError, OSError) as exc:  # the router being down must not keep an instance alive
            log.warning("cannot drain %s: %s", slot.id, exc)

    def _stop(self, slot: _Slot) -> None:
        """Drain, SIGTERM, SIGKILL after the grace; blocks the pass for at most the grace."""
        if slot.handle is None:
            return
        self._drain(slot)
        slot.health = Health.STOPPING
        handle = slot.handle
        if handle.alive():
            handle.signal_stop()
            deadline = time.monotonic() + self.stop_grace
            while handle.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if handle.alive():
                handle.signal_stop(force=True)
                _await_exit([handle])
        slot.handle = None

    def _kill(self, slot: _Slot) -> None:
        if slot.handle is not None and slot.handle.alive():
            slot.handle.signal_stop(force=True)
            _await_exit([slot.handle])
        slot.handle = None

    def _sync_router(self) -> None:
        if self.router is None:
            return
        services = {s for s, _ in self._desired} | set(self._synced)
        for service in sorted(services):
            by_version: dict[str, list[Endpoint]] = {v: [] for s, v in self._desired if s == service}
            for slot in sorted(self._slots.values(), key=lambda s: s.id):
                if slot.service == service and slot.handle is not None and slot.health is Health.READY:
                    by_version.setdefault(slot.version, []).append(Endpoint(slot.id, HOST, slot.port))
            frozen = {v: tuple(eps) for v, eps in by_version.items()}
            if self._synced.get(service) == frozen:
                continue
            try:
                self.router.sync_endpoints(service, by_version)
                self._synced[service] = frozen
            except (FleetdeckError, OSError) as exc:  # retried next pass
                log.warning("cannot update router for %s: %s", service, exc)
        for service in [s for s in self._synced if not self._synced[s] and s not in {d for d, _ in self._desired}]:
            del self._synced[service]

    def resync_router(self, every_service: bool = False) -> None:
        """Forget what was pushed to the router so the next pass pushes everything (after a router restart).

        ``every_service``: also push the services with no desired version, so that a router adopted from an
        earlier control plane loses the servers it still has for them (each push only changes what differs)."""
        with self._lock:
            self._synced.clear()
            if every_service:
                for service in self.manifest.order:
                    self._synced[service] = {"": ()}  # matches no real state: pushed on the next pass
        self.wake.set()

    def _publish(self) -> None:
        self._snapshot = [
            Instance(id=s.id, service=s.service, version=s.version, port=s.port,
                     pid=s.handle.pid if s.handle is not None else None, health=s.health,
                     restarts=s.restarts, started_at=s.started_at)
            for s in sorted(self._slots.values(), key=lambda s: s.id)
        ]


def _await_exit(handles: Sequence[ProcessHandle], timeout: float = 2.0) -> None:
    """After SIGKILL: wait (briefly) until the kernel has reaped them, so no zombie or handle leaks."""
    deadline = time.monotonic() + timeout
    while any(h.alive() for h in handles) and time.monotonic() < deadline:
        time.sleep(0.02)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
