"""Settings of one fleet instance, read once from the environment by the entry point.

Environment variables (docs/CONTRACTS.md, "A fleet instance"):

- ``FLEET_VERSION``              version of the service this process runs (default ``v1``)
- ``FLEET_INSTANCE_ID``          instance id, e.g. ``cart-v2-1`` (default ``<service>-<version>-0``)
- ``FLEET_HOST`` / ``FLEET_PORT`` where to listen (default 127.0.0.1 and 0 = pick a free port)
- ``FLEET_DATA_DIR``             folder holding this service version's SQLite file (default ``./.fleetdeck/data/<service>``)
- ``FLEET_UPSTREAM_<NAME>_URL``  base URL of each upstream service, e.g. ``FLEET_UPSTREAM_CATALOG_URL``
- ``FLEET_FAULTS``               JSON faults at start (see fleet/README.md)
- ``FLEET_TELEMETRY``            ``on`` (default) or ``off``: off disables tracing and OTLP log export
- ``FLEET_LOG_LEVEL``            logging level for stdout JSON logs (default ``INFO``)
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` base URL of an OTLP/HTTP receiver; unset means no export
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fleet.kit.faults import FaultConfig, FaultConfigError

_UPSTREAM_RE = re.compile(r"^FLEET_UPSTREAM_([A-Z0-9_]+)_URL$")


class SettingsError(ValueError):
    """The environment does not describe a valid instance; the message names the variable."""


@dataclass(frozen=True)
class FleetSettings:
    """Everything one service instance needs to know about where it runs."""

    service: str
    version: str = "v1"
    instance_id: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path(".")
    upstreams: Mapping[str, str] = field(default_factory=dict)  # lower-case service name -> base URL
    faults: FaultConfig = field(default_factory=FaultConfig)
    telemetry: bool = True
    otlp_endpoint: str | None = None
    log_level: str = "INFO"

    def upstream_url(self, name: str) -> str | None:
        """Base URL of upstream ``name``, or None when it is not configured."""
        return self.upstreams.get(name)

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str]) -> FleetSettings:
        """Build settings from an environment mapping (the entry point passes ``os.environ``)."""
        version = env.get("FLEET_VERSION", "v1")
        try:
            port = int(env.get("FLEET_PORT", "0"))
        except ValueError:
            raise SettingsError(f"FLEET_PORT must be an integer, got {env.get('FLEET_PORT')!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsError(f"FLEET_PORT must be 0..65535, got {port}")
        raw_faults = env.get("FLEET_FAULTS", "").strip()
        try:
            faults = FaultConfig.from_dict(json.loads(raw_faults)) if raw_faults else FaultConfig()
        except (json.JSONDecodeError, FaultConfigError) as exc:
            raise SettingsError(f"FLEET_FAULTS is invalid: {exc}") from None
        telemetry = env.get("FLEET_TELEMETRY", "on").strip().lower()
        if telemetry not in ("on", "off"):
            raise SettingsError(f"FLEET_TELEMETRY must be 'on' or 'off', got {telemetry!r}")
        log_level = env.get("FLEET_LOG_LEVEL", "INFO").strip().upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"FLEET_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")
        upstreams = {}
        for key, value in env.items():
            m = _UPSTREAM_RE.match(key)
            if m and value:
                upstreams[m.group(1).lower()] = value.rstrip("/")
        return cls(
            service=service,
            version=version,
            instance_id=env.get("FLEET_INSTANCE_ID") or f"{service}-{version}-0",
            host=env.get("FLEET_HOST", "127.0.0.1"),
            port=port,
            data_dir=Path(env.get("FLEET_DATA_DIR") or Path(".fleetdeck") / "data" / service),
            upstreams=upstreams,
            faults=faults,
            telemetry=telemetry == "on",
            otlp_endpoint=(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").rstrip("/") or None,
            log_level=log_level,
        )
