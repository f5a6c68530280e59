"""Reflex configuration of the Fleetdeck dashboard.

Entry point, so it is allowed to read the environment (nothing under ``dashboards/`` does):
- ``FLEETDECK_DASHBOARD_FRONTEND_PORT`` (default 3000) and ``FLEETDECK_DASHBOARD_BACKEND_PORT``
  (default 8000): the dev-mode ports; tests pick free ports through these.
- ``FLEETDECK_DASHBOARD_PORT``: one port for both, which ``reflex run --env prod`` requires
  (in prod the backend serves the built front end and the websocket on the same port).
- ``FLEETDECK_API_URL`` (default http://127.0.0.1:7000): the control-plane API the dashboard calls;
  read by ``dashboards.config``.
"""

import os

import reflex as rx

_single = os.environ.get("FLEETDECK_DASHBOARD_PORT")
frontend_port = int(_single or os.environ.get("FLEETDECK_DASHBOARD_FRONTEND_PORT", "3000"))
backend_port = int(_single or os.environ.get("FLEETDECK_DASHBOARD_BACKEND_PORT", "8000"))

config = rx.Config(
    app_name="dashboards",
    frontend_port=frontend_port,
    backend_port=backend_port,
    backend_host="127.0.0.1",
    api_url=f"http://127.0.0.1:{backend_port}",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(
        appearance="inherit", accent_color="indigo", gray_color="slate", radius="small", scaling="95%"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
