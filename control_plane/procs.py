"""Small helpers for the processes the control plane manages: free ports, liveness, stopping a group."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from control_plane.errors import ConfigError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def check_ports_free(ports: Iterable[tuple[str, int]], host: str = "127.0.0.1") -> None:
    """Raise ConfigError naming the setting of the first port another process holds."""
    for name, port in ports:
        if not port_is_free(port, host):
            raise ConfigError(f"port {port} ({name}) is in use on {host}; stop what holds it or choose another "
                              f"port with {name}", details={"field": name, "port": port})


def reap_child(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """Wait until a stopped child is really gone and reaped.

    A multi-threaded process (HAProxy, Prometheus) shows as a zombie while its other threads are
    still exiting, so :func:`pid_alive` already says "dead" when ``waitpid`` cannot reap it yet;
    dropping the ``Popen`` then would leak it. Kills it if it is somehow still running.
    """
    if proc is None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def read_pidfile(path: Path) -> int | None:
    """The pid written in ``path``, or None when the file is missing or does not hold a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def process_env(pid: int) -> dict[str, str]:
    """The environment a process was started with (empty if unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def process_cmdline(pid: int) -> list[str]:
    try:
        return [p.decode(errors="replace") for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if p]
    except OSError:
        return []


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid`` (our children run in their own session)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def stop_pids(pids: Iterable[int], grace: float = 5.0, *, alive: Callable[[int], bool] = pid_alive,
              reap: Callable[[], None] = lambda: None) -> list[int]:
    """SIGTERM each group, wait up to ``grace`` seconds, SIGKILL what is left; returns the pids killed hard."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    hard = [p for p in pids if alive(p)]
    for pid in hard:
        signal_group(pid, signal.SIGKILL)
    end = time.monotonic() + 2.0
    while time.monotonic() < end and any(alive(p) for p in hard):
        reap()
        time.sleep(0.02)
    return hard
