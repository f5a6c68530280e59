"""Times in the query API: RFC 3339 or unix seconds in, RFC 3339 (UTC) and nanoseconds out."""

from __future__ import annotations

from datetime import UTC, datetime


class BadTime(ValueError):
    """A time parameter that is neither RFC 3339 nor a unix-seconds number."""


def parse_time(raw: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp or a unix-seconds number."""
    value = raw.strip()
    try:
        return round(float(value) * 1e9) if value.replace(".", "", 1).isdigit() else _rfc3339(value)
    except (ValueError, OverflowError) as exc:
        raise BadTime(f"{raw!r} is not an RFC 3339 time or unix seconds") from exc


def _rfc3339(value: str) -> int:
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    frac_ns = 0
    # datetime keeps microseconds only; keep nanosecond fractions ourselves.
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        if not digits:
            raise ValueError(value)
        frac_ns = int((digits + "000000000")[:9])
        text = head + rest
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def format_ns(ns: int) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2026-11-27T04:00:00.123456Z."""
    dt = datetime.fromtimestamp(ns // 1000 / 1e6, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
