"""The Fleetdeck dashboard app: routes, titles and on-load events."""

import reflex as rx

from dashboards.config import load_settings
from dashboards.pages import admin, fleet, login, rollouts, telemetry
from dashboards.state import client
from dashboards.state.admin import AuditState, TokensState
from dashboards.state.auth import LoginState
from dashboards.state.fleet import OverviewState, ServiceState
from dashboards.state.rollouts import RolloutsState, RolloutState
from dashboards.state.telemetry import LogsState, TracesState, TraceState

client.configure(load_settings())

app = rx.App()

ROUTES = [
    ("/login", login.login, "Sign in", LoginState.on_load),
    ("/", fleet.overview, "Fleet overview", OverviewState.on_load),
    ("/service", fleet.service, "Service", ServiceState.on_load),
    ("/traces", telemetry.traces, "Traces", TracesState.on_load),
    ("/trace", telemetry.trace, "Trace", TraceState.on_load),
    ("/logs", telemetry.logs, "Logs", LogsState.on_load),
    ("/rollouts", rollouts.rollout_list, "Rollouts", RolloutsState.on_load),
    ("/rollout", rollouts.rollout, "Rollout", RolloutState.on_load),
    ("/audit", admin.audit, "Audit trail", AuditState.on_load),
    ("/tokens", admin.tokens, "API tokens", TokensState.on_load),
]

for route, component, title, on_load in ROUTES:
    app.add_page(component, route=route, title=f"{title} · Fleetdeck", on_load=on_load)
