"""Entry point: ``python -m fleet <service>`` runs one service instance (env per docs/CONTRACTS.md)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from fleet import SERVICES
from fleet.kit.logs import configure_logging, detach_otel_bridge
from fleet.kit.sdk import configure_sdk
from fleet.kit.settings import FleetSettings, SettingsError

USAGE = f"usage: python -m fleet <service>   (services: {', '.join(SERVICES)})"


def main(argv: list[str] | None = None) -> int:
    """Configure telemetry once, build the service app and serve it until SIGTERM/SIGINT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    service = args[0]
    if service not in SERVICES:
        print(f"fleet: unknown service {service!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        settings = FleetSettings.from_env(service, os.environ)
    except SettingsError as exc:
        print(f"fleet {service}: {exc}", file=sys.stderr)
        return 2

    configure_logging(service, settings.version, settings.instance_id, level=settings.log_level,
                      otel_bridge=settings.telemetry)
    telemetry = configure_sdk(settings)
    from fleet.services import build_service  # after the SDK, so module-level tracers bind to it

    log = logging.getLogger("fleet")
    try:
        app = build_service(settings)
    except OSError as exc:
        log.critical("cannot start: %s", exc)
        telemetry.shutdown()
        return 1
    app.state.kit.shutdown_hooks.append(lambda: log.info("stopped"))
    app.state.kit.shutdown_hooks.append(detach_otel_bridge)
    app.state.kit.shutdown_hooks.append(telemetry.shutdown)
    log.info("starting", extra={"host": settings.host, "port": settings.port,
                                "upstreams": ",".join(f"{k}={v}" for k, v in sorted(settings.upstreams.items())),
                                "faults": str(settings.faults.to_dict()), "telemetry": settings.telemetry})
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=5, server_header=False)
    server = uvicorn.Server(config)
    server.run()  # on SIGTERM/SIGINT uvicorn runs the lifespan shutdown, then re-raises the signal
    telemetry.shutdown()  # reached only when the server did not start (e.g. port in use)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
