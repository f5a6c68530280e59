"""Dashboard settings, read once from the environment when the app starts.

- ``FLEETDECK_API_URL``: the control-plane API (default http://127.0.0.1:7000).
- ``FLEETDECK_DASHBOARD_REFRESH_SECONDS``: how often pages refresh (default 3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DashboardSettings:
    """Typed settings of the dashboard process."""

    api_url: str = "http://127.0.0.1:7000"
    refresh_seconds: int = 3


def load_settings(environ: Mapping[str, str] | None = None) -> DashboardSettings:
    """Settings from ``environ`` (the process environment by default)."""
    env = os.environ if environ is None else environ
    return DashboardSettings(
        api_url=env.get("FLEETDECK_API_URL", DashboardSettings.api_url).rstrip("/"),
        refresh_seconds=max(1, int(env.get("FLEETDECK_DASHBOARD_REFRESH_SECONDS", "3"))),
    )
