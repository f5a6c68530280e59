"""The dashboard's end-to-end fixture contract: start the real Reflex app against a real API.

``start_dashboard(api_url, front_port, back_port, workdir)`` starts ``reflex run --env prod`` from
the repository root and returns a handle with ``url`` and ``stop()``. In prod mode Reflex serves the
built front end and its websocket from one port, so ``front_port`` is used for both and
``back_port`` only matters for ``env="dev"``. The build writes into the repository's ``.web``, so
run one dashboard per checkout at a time. Logs go to ``workdir/dashboard.log``.

The browser tests take everything else from a fixture named ``stack`` that the whole-stack suite
provides (it is deliberately not defined here: without the real stack the tests error, they do not
skip). What they read from it (attribute or mapping key): ``api_url`` (or ``url("API")``), and
``admin_user`` (default "admin") with ``admin_password`` (or ``env["FLEETDECK_ADMIN_PASSWORD"]``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUN_BIN = ROOT / ".tools" / "bun" / "node_modules" / ".bin"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 600.0  # the first build fetches npm packages


@dataclass
class DashboardHandle:
    """A running dashboard: where it answers, and how to stop it (its whole process group)."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def dashboard_env(api_url: str, front_port: int, back_port: int, env: str = "prod") -> dict[str, str]:
    """Environment for a dashboard process: bun from .tools on PATH, ports, the API it calls."""
    out = dict(os.environ)
    out["PATH"] = f"{BUN_BIN}{os.pathsep}{out.get('PATH', '')}"
    out["REFLEX_USE_SYSTEM_BUN"] = "1"
    out["FLEETDECK_API_URL"] = api_url
    out.pop("FLEETDECK_DASHBOARD_PORT", None)
    if env == "prod":
        out["FLEETDECK_DASHBOARD_PORT"] = str(front_port)
    else:
        out["FLEETDECK_DASHBOARD_FRONTEND_PORT"] = str(front_port)
        out["FLEETDECK_DASHBOARD_BACKEND_PORT"] = str(back_port)
    return out


def start_dashboard(api_url: str, front_port: int, back_port: int, workdir: Path, *,
                    env: str = "prod", timeout: float = START_TIMEOUT_S) -> DashboardHandle:
    """Build and start the dashboard; returns once its login page answers (or raises, stopping it)."""
    if not (BUN_BIN / "bun").exists():
        subprocess.run([str(ROOT / "deploy" / "install-frontend.sh"), "--no-build"], check=True, cwd=ROOT)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "dashboard.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "reflex", "run", "--env", env, "--loglevel", "info"],
                                   cwd=ROOT, env=dashboard_env(api_url, front_port, back_port, env),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    handle = DashboardHandle(f"http://127.0.0.1:{front_port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}:\n{handle.log_tail()}")
        try:
            if httpx.get(f"{handle.url}/login", timeout=2.0, follow_redirects=True).status_code == 200 and \
                    httpx.get(f"{handle.url}/ping", timeout=2.0).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    handle.stop()
    raise RuntimeError(f"the dashboard did not answer within {timeout:.0f}s:\n{handle.log_tail()}")


def stack_value(stack: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from the lead's ``stack`` fixture, whether it is an object or a mapping."""
    if isinstance(stack, dict):
        return stack.get(name, default)
    return getattr(stack, name, default)


def stack_api_url(stack: Any) -> str:
    url = stack_value(stack, "api_url")
    if callable(url):
        url = url()
    if not url and callable(getattr(stack, "url", None)):
        url = stack.url("API")
    assert url, "the stack fixture gives no API URL (api_url or url('API'))"
    return str(url).rstrip("/")


def stack_admin(stack: Any) -> tuple[str, str]:
    user = stack_value(stack, "admin_user", "admin")
    password = stack_value(stack, "admin_password")
    if not password:
        password = (stack_value(stack, "env") or {}).get("FLEETDECK_ADMIN_PASSWORD")
    assert password, "the stack fixture gives no admin password (admin_password or env)"
    return str(user), str(password)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardHandle]:
    """The real dashboard, built and started against the stack's API (stopped after the module)."""
    port = _free_port()
    handle = start_dashboard(stack_api_url(stack), port, port, tmp_path_factory.mktemp("dashboard"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS[1:], headless=True)
        try:
            yield b
        finally:
            b.close()


def new_page(browser: Any, *, dark: bool = False) -> Any:
    """A fresh context (own cookies) at 1366×768 in the chosen colour scheme."""
    context = browser.new_context(viewport={"width": 1366, "height": 768},
                                  color_scheme="dark" if dark else "light")
    return context.new_page()


def login(page: Any, base: str, user: str, password: str) -> None:
    """Sign in through the login form and wait for the overview."""
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_selector("#page-title", timeout=20_000)


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot as a test artefact (artifacts/screenshots, git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
