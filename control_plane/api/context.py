"""What the API routes are given: settings and the control plane's parts, built once by the daemon."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import sessionmaker

from control_plane.interfaces import MetricsSource
from control_plane.settings import Settings


@dataclass
class AppContext:
    """Everything a route may use. Tests build one with fakes at the level of our own interfaces."""

    settings: Settings
    sessions: sessionmaker
    # control_plane.fleet_service.FleetService: registry, scaling, weights, instances (foundation)
    fleet: Any = None
    # the metrics source (Prometheus) for RED charts and the canary judge
    metrics: MetricsSource | None = None
    # base URL of the collectors' query API (telemetry routes proxy to it)
    collectors_url: str = ""
    # control_plane.rollouts controller (rollouts issue)
    rollouts: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
