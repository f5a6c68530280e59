"""Runs Prometheus locally: renders its config, keeps its data in the state dir, starts and stops it."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path
from string import Template

import httpx

from control_plane import procs
from control_plane.errors import ConfigError, DependencyMissing, PermanentError
from control_plane.settings import Settings

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.yml.tmpl"
INSTALL_HINT = "install it with: apt-get install prometheus"


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def render_config(settings: Settings, sd_url: str, template: Path = TEMPLATE) -> str:
    """Prometheus config scraping every target the control plane's http_sd endpoint lists."""
    interval = max(0.5, settings.scrape_interval_s)
    return Template(template.read_text()).substitute(
        scrape_interval=_duration(interval), scrape_timeout=_duration(min(interval, 10.0)),
        sd_url=sd_url, sd_refresh=_duration(max(1.0, interval)))


class LocalPrometheus:
    """The Prometheus process of local mode (``--web.enable-lifecycle`` so tests can reload it)."""

    def __init__(self, settings: Settings, sd_url: str | None = None) -> None:
        self.settings = settings
        self.sd_url = sd_url or f"{settings.api_url}/api/v1/sd/prometheus"
        self.dir = Path(settings.state_dir) / "prometheus"
        self.config_path = self.dir / "prometheus.yml"
        self.data_dir = self.dir / "data"
        self.pid_path = self.dir / "prometheus.pid"
        self.log_path = Path(settings.state_dir) / "logs" / "prometheus.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.prometheus_port}"

    def binary(self) -> str:
        found = shutil.which(self.settings.prometheus_bin)
        if not found:
            raise DependencyMissing(f"Prometheus ({self.settings.prometheus_bin!r}) is not installed; "
                                    f"{INSTALL_HINT}", details={"binary": self.settings.prometheus_bin})
        return found

    def write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self.settings, self.sd_url))
        promtool = shutil.which("promtool")
        if promtool:
            res = subprocess.run([promtool, "check", "config", str(self.config_path)], check=False, capture_output=True,
                                 text=True, timeout=30)
            if res.returncode != 0:
                raise ConfigError(f"promtool rejected {self.config_path}: {(res.stderr or res.stdout).strip()}")
        return self.config_path

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return procs.read_pidfile(self.pid_path)

    def stop_stale(self) -> None:
        pid = self.pid
        if pid and procs.pid_alive(pid) and any(str(self.config_path) in a for a in procs.process_cmdline(pid)):
            log.info("stopping the Prometheus (pid %d) left by an earlier control plane", pid)
            procs.stop_pids([pid], grace=10.0)
        self.pid_path.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> None:
        """Launch Prometheus and wait until it is ready."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (the daemon starts the fleet meanwhile)."""
        binary = self.binary()
        self.stop_stale()
        procs.check_ports_free([("FLEETDECK_PROMETHEUS_PORT", self.settings.prometheus_port)], self.settings.host)
        self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address={self.settings.host}:{self.settings.prometheus_port}",
                "--web.enable-lifecycle", "--storage.tsdb.retention.time=2d", "--log.level=warn"]
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        self.pid_path.write_text(str(self._proc.pid))

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for ``/-/ready``; PermanentError (and the process stopped) if it exits or takes too long."""
        assert self._proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise PermanentError(f"Prometheus exited at start (code {self._proc.returncode}): {tail.strip()}")
            if self.ready():
                log.info("Prometheus up (pid %d) at %s", self._proc.pid, self.url)
                return
            time.sleep(0.1)
        self.stop()
        raise PermanentError(f"Prometheus not ready within {timeout:.0f}s (see {self.log_path})")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def running(self) -> bool:
        if self._proc is not None:
            self._proc.poll()  # reap it if it died, so it is not counted alive as a zombie
        return procs.pid_alive(self.pid)

    def stop(self, grace: float = 10.0) -> None:
        pid = self.pid
        if pid:
            procs.stop_pids([pid], grace=grace, reap=lambda: self._proc.poll() if self._proc else None)
        procs.reap_child(self._proc)
        self._proc = None
        self.pid_path.unlink(missing_ok=True)
