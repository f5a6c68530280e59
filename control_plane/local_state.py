"""Where a local control plane keeps its pids, and how to find and stop what it left running.

Shared by the daemon (which cleans up after a predecessor killed without warning) and by
`fleetdeck down` (which checks, pid by pid, that nothing is left). Imports no driver.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from control_plane import procs
from control_plane.settings import Settings
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo

log = logging.getLogger(__name__)
PIDFILE = "daemon.pid"


def running_daemon_pid(settings: Settings) -> int | None:
    """The pid of the live daemon of this state dir, if any."""
    pid = procs.read_pidfile(Path(settings.state_dir).resolve() / PIDFILE)
    if pid is not None and procs.pid_alive(pid) and "control_plane.daemon" in " ".join(procs.process_cmdline(pid)):
        return pid
    return None


def leftover_pids(settings: Settings, include_instances: bool = True, include_haproxy: bool = True) -> list[int]:
    """Live pids of processes a control plane with this state dir started (from pidfiles and the store);
    ``include_haproxy=False`` leaves out the HAProxy a restarting daemon adopts."""
    state = Path(settings.state_dir).resolve()
    # Each pidfile with what the process's command line must contain: a pid reused by an
    # unrelated process after a reboot or a long pause is never touched.
    files = [(state / "haproxy" / "haproxy.pid", str(state / "haproxy" / "haproxy.cfg"))] if include_haproxy else []
    files += [(state / "prometheus" / "prometheus.pid", str(state / "prometheus" / "prometheus.yml")),
             (state / "run" / "collectors.pid", "collectors"), (state / "run" / "loadgen.pid", "fleet.loadgen"),
             (state / "run" / "dashboard.pid", "reflex")]
    pids: list[int] = []
    for f, marker in files:
        pid = procs.read_pidfile(f)
        if pid is not None and procs.pid_alive(pid) and marker in " ".join(procs.process_cmdline(pid)):
            pids.append(pid)
    db_file = settings.control_db_url.removeprefix("sqlite:///")
    if include_instances and (not settings.control_db_url.startswith("sqlite") or Path(db_file).exists()):
        try:
            repo = FleetRepo(make_sessionmaker(make_engine(settings.control_db_url)))
            for rec in repo.instances():
                if rec.pid and procs.pid_alive(rec.pid) and \
                        procs.process_env(rec.pid).get("FLEET_INSTANCE_ID") == rec.id:
                    pids.append(rec.pid)
        except SQLAlchemyError as exc:  # a store that cannot be read must not stop the cleanup of the rest
            log.warning("cannot read instance records: %s", exc)
    return pids


def stop_leftovers(settings: Settings, include_instances: bool = True, include_haproxy: bool = True) -> list[int]:
    """Stop what an earlier control plane left running; returns the pids it stopped."""
    pids = leftover_pids(settings, include_instances, include_haproxy)
    if pids:
        log.info("stopping %d process(es) left by an earlier control plane: %s", len(pids), pids)
        procs.stop_pids(pids, grace=5.0)
    return pids
