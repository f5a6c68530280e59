"""Fleet overview and service page states."""

# ruff: noqa: RUF012  (Reflex declares state vars as class attributes with mutable defaults;
# it copies them per session, so the shared-default hazard this rule guards against does not apply)

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic import shaping
from dashboards.logic.freshness import unreachable_message
from dashboards.logic.roles import Action, can
from dashboards.logic.urls import TIME_WINDOWS, window_or_default, with_query
from dashboards.state import loaders
from dashboards.state.base import AppState, call_api, refresh_with, replace_url


class OverviewState(AppState):
    """Every service with RED now and trends, and the service graph."""

    rows: list[dict[str, Any]] = []
    graph_nodes: list[dict[str, Any]] = []
    graph_edges: list[dict[str, Any]] = []
    graph_note: str = ""
    _busy: float = 0.0
    _graph_busy: float = 0.0
    _ticks: int = 0

    @rx.event
    def on_load(self):
        """Start the page (or go to login)."""
        self._reset_page()
        self.rows = []
        self._ticks = 0
        return self._login_redirect() or [OverviewState.refresh, OverviewState.refresh_graph]

    @rx.event
    def tick(self, _value: str = ""):
        """Timer tick: refresh the table in the background, the graph every fifth tick."""
        redirect = self._login_redirect()
        if redirect:
            return redirect
        self._ticks += 1
        if self._ticks % GRAPH_EVERY == 0:
            return [OverviewState.refresh, OverviewState.refresh_graph]
        return OverviewState.refresh

    @rx.event(background=True)
    async def refresh(self):
        """Fetch the table off the state lock."""
        await refresh_with(self, loaders.load_overview, {}, _apply_overview)

    @rx.event(background=True)
    async def refresh_graph(self):
        """Fetch the service graph off the state lock (it does not touch the page's freshness)."""
        await refresh_with(self, loaders.load_graph, {"window": GRAPH_WINDOW}, _apply_graph,
                           busy_attr="_graph_busy", track=False, timeout=GRAPH_TIMEOUT_S)


GRAPH_EVERY = 5
# The collectors build the graph by scanning spans, which takes seconds on a busy machine: a
# short window and a longer timeout keep it current without holding up the table.
GRAPH_WINDOW = "2m"
GRAPH_TIMEOUT_S = 20.0


def _apply_overview(state: Any, data: dict[str, Any]) -> None:
    state.rows = data["rows"]


def _apply_graph(state: Any, data: dict[str, Any]) -> None:
    state.graph_nodes = data["graph_nodes"]
    state.graph_edges = data["graph_edges"]
    state.graph_note = data["graph_note"]


class ServiceState(AppState):
    """One service: RED per version, instances, operations, and operator controls behind confirmations."""

    name: str = ""
    window: str = "15m"
    windows: list[str] = TIME_WINDOWS
    instances: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    rps: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    lines: list[dict[str, str]] = []
    latency_lines: list[dict[str, str]] = []
    operations: list[str] = []
    rollouts: list[dict[str, Any]] = []
    rollout: str = ""
    rollout_id: str = ""
    weight_inputs: dict[str, str] = {}
    replica_inputs: dict[str, str] = {}
    confirm_open: bool = False
    confirm_title: str = ""
    confirm_effect: str = ""
    _pending: dict[str, Any] = {}
    _busy: float = 0.0

    def _params(self) -> dict[str, str]:
        return {"name": self.name, "window": self.window,
                "show_rollouts": "1" if can(self.user_role, Action.VIEW_ROLLOUTS) else ""}

    @rx.event
    def on_load(self):
        """Read the service and window from the query string."""
        self._reset_page()
        q = self._query()
        self.name = q.get("name", "")
        self.window = window_or_default(q.get("window"))
        self.instances, self.versions, self.rps, self.errors, self.latency = [], [], [], [], []
        self.weight_inputs, self.replica_inputs = {}, {}
        return self._login_redirect() or ServiceState.refresh

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or ServiceState.refresh

    @rx.event
    def set_window(self, value: str):
        """Change the chart window (and the URL)."""
        self.window = window_or_default(value)
        return [replace_url(with_query("/service", {"name": self.name, "window": self.window})),
                ServiceState.refresh]

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            params = self._params()
        await refresh_with(self, loaders.load_service, params, _apply_service)

    @rx.event
    def set_weight_input(self, version: str, value: str) -> None:
        self.weight_inputs = {**self.weight_inputs, version: value}

    @rx.event
    def set_replica_input(self, version: str, value: str) -> None:
        self.replica_inputs = {**self.replica_inputs, version: value}

    @rx.event
    def ask_scale(self, version: str):
        """Open the confirmation for scaling ``version`` to the typed replica count."""
        if not can(self.user_role, Action.SCALE):
            return
        current = next((v["replicas"] for v in self.versions if v["version"] == version), 0)
        raw = self.replica_inputs.get(version, str(current)).strip()
        if not raw.isdigit() or int(raw) > 20:
            self.action_error = "Replicas must be a whole number from 0 to 20."
            return
        replicas = int(raw)
        self._ask("Scale", shaping.scale_effect(self.name, version, int(current), replicas),
                  {"kind": "scale", "version": version, "replicas": replicas})

    @rx.event
    def ask_restart(self, instance_id: str):
        """Open the confirmation for restarting one instance."""
        if not can(self.user_role, Action.RESTART):
            return
        self._ask("Restart instance", f"Stop and start {instance_id}; its requests in flight fail "
                  "and its share of traffic goes to the other instances meanwhile.",
                  {"kind": "restart", "instance": instance_id})

    @rx.event
    def ask_weights(self):
        """Open the confirmation for the typed weights (validated first)."""
        if not can(self.user_role, Action.SET_WEIGHTS):
            return
        raw = {v["version"]: self.weight_inputs.get(v["version"], str(v["weight"])) for v in self.versions}
        weights, error = shaping.validate_weights(raw)
        if error:
            self.action_error = error[0].upper() + error[1:] + "."
            return
        self._ask("Set traffic weights", shaping.weights_effect(self.name, weights),
                  {"kind": "weights", "weights": weights})

    def _ask(self, title: str, effect: str, pending: dict[str, Any]) -> None:
        self.action_error = ""
        self.action_message = ""
        self.confirm_title = title
        self.confirm_effect = effect
        self._pending = pending
        self.confirm_open = True

    @rx.event
    def cancel(self) -> None:
        self.confirm_open = False
        self._pending = {}

    @rx.event
    async def confirm(self):
        """Carry out the confirmed command through the API (which checks the role again)."""
        pending, self._pending = self._pending, {}
        self.confirm_open = False
        svc = quote(self.name, safe="")
        try:
            if pending.get("kind") == "scale":
                await asyncio.to_thread(call_api, self.token, "PUT",
                                        f"/api/v1/services/{svc}/versions/{quote(pending['version'], safe='')}",
                                        json={"replicas": pending["replicas"]})
            elif pending.get("kind") == "restart":
                await asyncio.to_thread(call_api, self.token, "POST",
                                        f"/api/v1/instances/{quote(pending['instance'], safe='')}/restart")
            elif pending.get("kind") == "weights":
                await asyncio.to_thread(call_api, self.token, "PUT", f"/api/v1/services/{svc}/weights",
                                        json={"weights": pending["weights"]})
            else:
                return None
        except ApiError as exc:
            self.action_error = (f"Refused: {exc}" if exc.status in (400, 403, 409, 412, 422)
                                 else unreachable_message(exc.status, exc.code, str(exc)))
            return None
        self.action_message = f"Done: {self.confirm_effect}"
        return ServiceState.refresh


def _apply_service(state: Any, data: dict[str, Any]) -> None:
    for key in ("instances", "versions", "rps", "errors", "latency", "lines", "latency_lines", "operations",
                "rollouts", "rollout", "rollout_id"):
        setattr(state, key, data[key])
