"""Typed settings, read once from ``FLEETDECK_*`` environment variables.

No other module reads ``os.environ``: entry points call :func:`load_settings` and pass the
result down. Every variable is documented on the field it sets.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

from control_plane.errors import ConfigError


class RuntimeKind(enum.Enum):
    """Where service instances run."""

    LOCAL = "local"  # child processes on this machine (the embedded default)
    KUBERNETES = "kubernetes"  # Deployments per version (later issue)


class RouterKind(enum.Enum):
    """What shifts traffic between versions."""

    HAPROXY = "haproxy"  # HAProxy runtime API (the embedded default)
    GATEWAY_API = "gateway-api"  # HTTPRoute backend weights (later issue)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a control plane. Field ``x_y`` is read from ``FLEETDECK_X_Y``."""

    # Folder for the control store, rendered configs, sockets, logs and per-instance data.
    state_dir: Path = Path(".fleetdeck")
    # SQLAlchemy URL of the control store; default: SQLite file in state_dir.
    db_url: str = ""
    # Fleet manifest: which services exist, how to start them, what they call.
    fleet_manifest: Path = Path(__file__).resolve().parent.parent / "deploy" / "fleet.yaml"
    runtime: RuntimeKind = RuntimeKind.LOCAL
    router: RouterKind = RouterKind.HAPROXY
    host: str = "127.0.0.1"
    # Control-plane API port.
    api_port: int = 7000
    # HAProxy edge listener (the storefront entry).
    edge_port: int = 8080
    # Per-service HAProxy listeners are at listener_port_base + index in the manifest.
    listener_port_base: int = 8100
    # HAProxy stats page and Prometheus exporter.
    haproxy_stats_port: int = 8404
    prometheus_port: int = 9090
    # OTLP/HTTP receiver of the collectors.
    collector_port: int = 4318
    # Seconds between Prometheus scrapes (short locally so the canary judge sees fresh counts).
    scrape_interval_s: float = 2.0
    haproxy_bin: str = "haproxy"
    prometheus_bin: str = "prometheus"
    # Password of the first admin; random and printed once when empty.
    admin_password: str = ""
    # SQLAlchemy URL of the telemetry store; default: SQLite file in state_dir.
    telemetry_db_url: str = ""
    # Start the load generator with `fleetdeck up`, and its rate in shopper journeys per second.
    loadgen: bool = True
    loadgen_rate: float = 5.0
    # Start the Reflex dashboard with `fleetdeck up` (a production build; the first takes a minute).
    dashboard: bool = True
    dashboard_port: int = 3000
    # Instances per version when the manifest does not say.
    default_replicas: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def control_db_url(self) -> str:
        """The control store URL, defaulting to SQLite in the state directory."""
        return self.db_url or f"sqlite:///{(self.state_dir / 'control.db').resolve()}"

    @property
    def telemetry_store_url(self) -> str:
        """The telemetry store URL, defaulting to SQLite in the state directory."""
        return self.telemetry_db_url or f"sqlite:///{(self.state_dir / 'telemetry.db').resolve()}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def listener_port(self, index: int) -> int:
        """Port of the HAProxy listener of the service at ``index`` in the manifest."""
        return self.listener_port_base + index


PREFIX = "FLEETDECK_"


def _convert(name: str, raw: str, kind: object) -> object:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (bool, "bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind in (Path, "Path"):
            return Path(raw)
        if kind in (RuntimeKind, "RuntimeKind"):
            return RuntimeKind(raw)
        if kind in (RouterKind, "RouterKind"):
            return RouterKind(raw)
    except ValueError as exc:
        allowed = ""
        if kind in (RuntimeKind, "RuntimeKind"):
            allowed = f" (one of: {', '.join(k.value for k in RuntimeKind)})"
        elif kind in (RouterKind, "RouterKind"):
            allowed = f" (one of: {', '.join(k.value for k in RouterKind)})"
        raise ConfigError(f"{PREFIX}{name.upper()}={raw!r} is not valid{allowed}") from exc
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from an environment mapping (default: the process environment) plus overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        key = PREFIX + f.name.upper()
        if key in env:
            values[f.name] = _convert(f.name, env[key], f.type)
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    for port_field in ("api_port", "edge_port", "listener_port_base", "haproxy_stats_port",
                       "prometheus_port", "collector_port", "dashboard_port"):
        port = getattr(settings, port_field)
        if not 0 < port < 65536:
            raise ConfigError(f"{PREFIX}{port_field.upper()}={port} is not a TCP port")
    return settings
