"""Number, duration and time formatting shared by every page."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

DASH = "—"


def is_number(value: Any) -> bool:
    """True for a finite int/float (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_rps(value: Any) -> str:
    """Request rate: '0', '0.42/s', '12.3/s', '1.2k/s'; a dash when unknown."""
    if not is_number(value):
        return DASH
    if value == 0:
        return "0/s"
    if value >= 1000:
        return f"{value / 1000:.1f}k/s"
    if value >= 10:
        return f"{value:.1f}/s"
    return f"{value:.2f}/s"


def fmt_pct(ratio: Any) -> str:
    """A ratio (0..1) as a percentage with useful precision: '0%', '0.05%', '2.1%', '45%'."""
    if not is_number(ratio):
        return DASH
    pct = ratio * 100
    if pct == 0:
        return "0%"
    if pct < 0.1:
        return f"{pct:.2f}%"
    if pct < 10:
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def fmt_ms(seconds: Any) -> str:
    """A duration given in seconds, shown as µs/ms/s: '850µs', '12ms', '1.25s'."""
    if not is_number(seconds):
        return DASH
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:.1f}ms" if ms < 10 else f"{ms:.0f}ms"
    return f"{seconds:.2f}s"


def fmt_ago(seconds: Any) -> str:
    """Elapsed time, short: '3s', '4m 10s', '2h 5m', '3d'."""
    if not is_number(seconds):
        return DASH
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60}m"
    return f"{s // 86400}d"


def parse_time(value: Any) -> float | None:
    """Epoch seconds from RFC 3339 text, epoch seconds, milliseconds or nanoseconds; None if unparseable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:  # nanoseconds
            return v / 1e9
        if v > 1e14:  # microseconds
            return v / 1e6
        if v > 1e11:  # milliseconds
            return v / 1e3
        return v
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return parse_time(float(text))
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def fmt_clock(epoch: Any, *, with_date: bool = False) -> str:
    """UTC wall-clock time of an epoch value ('14:03:07', or '2026-11-27 14:03:07')."""
    ts = parse_time(epoch)
    if ts is None:
        return DASH
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def fmt_clock_ms(epoch: Any) -> str:
    """UTC time with milliseconds, for log lines: '14:03:07.123'."""
    ts = parse_time(epoch)
    if ts is None:
        return DASH
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def pick(mapping: Any, *keys: str, default: Any = None) -> Any:
    """The first present, non-None value among ``keys`` (the API's field names may vary slightly)."""
    if not isinstance(mapping, dict):
        return default
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return default
