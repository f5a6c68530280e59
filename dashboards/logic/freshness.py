"""Freshness of what is on screen: the dashboard never shows stale numbers as current."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dashboards.logic.formatting import fmt_ago, fmt_clock


class Freshness(str, Enum):
    """How current the data on a page is."""

    LOADING = "loading"  # nothing loaded yet
    FRESH = "fresh"  # last refresh succeeded recently
    STALE = "stale"  # the last successful refresh is older than a few refresh intervals
    DOWN = "down"  # the last refresh failed: the API (or Prometheus behind it) cannot be reached


@dataclass(frozen=True)
class FreshnessView:
    """What the page header shows about freshness."""

    state: Freshness
    label: str
    banner: str  # empty when nothing needs saying


def freshness(last_ok: float | None, last_error: str, now: float, interval: float) -> FreshnessView:
    """Classify the page's data given the time of its last good refresh and its last error."""
    if last_error:
        since = f" Last good data: {fmt_clock(last_ok)} UTC ({fmt_ago(now - last_ok)} ago)." if last_ok else ""
        return FreshnessView(Freshness.DOWN, "not updating",
                             f"{last_error}.{since} Numbers are hidden until it answers again.")
    if last_ok is None:
        return FreshnessView(Freshness.LOADING, "loading…", "")
    age = now - last_ok
    if age > 3 * interval:
        return FreshnessView(Freshness.STALE, f"stale: refreshed {fmt_ago(age)} ago",
                             f"No fresh data for {fmt_ago(age)}; what is shown may be out of date.")
    return FreshnessView(Freshness.FRESH, f"refreshed {fmt_clock(last_ok)} UTC", "")


def unreachable_message(status: int, code: str, message: str) -> str:
    """A plain sentence for an API failure shown in the page banner."""
    if status == 0:
        if "timed out" in message.lower() or "timeout" in message.lower():
            return "The Fleetdeck API did not answer in time"
        return "The Fleetdeck API cannot be reached"
    if status == 503 or code in {"prometheus_unavailable", "metrics_unavailable", "unavailable"}:
        return f"A data source behind the API is unavailable ({message})"
    return f"The API answered {status} {code}: {message}"
