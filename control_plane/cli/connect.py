"""How every CLI command finds the API and its token (one place, so all commands agree)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from control_plane.client import ApiClient
from control_plane.settings import Settings


def make_client(settings: Settings, environ: Mapping[str, str] | None = None) -> ApiClient:
    """API client: URL from FLEETDECK_API_URL (else settings), token from FLEETDECK_TOKEN or <state_dir>/cli-token."""
    env = os.environ if environ is None else environ
    token = env.get("FLEETDECK_TOKEN")
    if not token:
        try:
            token = (Path(settings.state_dir) / "cli-token").read_text().strip() or None
        except OSError:
            token = None
    return ApiClient(env.get("FLEETDECK_API_URL") or settings.api_url, token)
