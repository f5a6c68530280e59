"""Shareable URLs: page state lives in the query string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

TIME_WINDOWS = ["5m", "15m", "30m", "1h", "3h", "6h", "24h"]
WINDOW_SECONDS = {"2m": 120, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "3h": 10800, "6h": 21600, "24h": 86400}


def with_query(path: str, params: Mapping[str, Any]) -> str:
    """``path`` with the non-empty ``params`` as its query string (stable order)."""
    clean = {k: str(v) for k, v in sorted(params.items()) if v not in (None, "", False)}
    return f"{path}?{urlencode(clean)}" if clean else path


def window_or_default(value: str | None, default: str = "15m") -> str:
    """A known time window name, else ``default`` (bad query strings never reach the API)."""
    return value if value in WINDOW_SECONDS else default


def step_for(window: str) -> str:
    """A query step giving about 60-120 points for a window."""
    seconds = WINDOW_SECONDS[window_or_default(window)]
    return f"{max(15, seconds // 80)}s"


def safe_next(value: str | None) -> str:
    """Where to go after login: a local path only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and not value.startswith("/login"):
        return value
    return "/"
