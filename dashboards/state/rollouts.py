"""Rollout list, start form, and the rollout page with its controls."""

# ruff: noqa: RUF012  (Reflex declares state vars as class attributes with mutable defaults;
# it copies them per session, so the shared-default hazard this rule guards against does not apply)

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic import rollouts as logic
from dashboards.logic.freshness import unreachable_message
from dashboards.logic.roles import Action, can
from dashboards.state import loaders
from dashboards.state.base import AppState, call_api, refresh_with


class RolloutsState(AppState):
    """The list of rollouts and the form that starts one."""

    rows: list[dict[str, Any]] = []
    services: list[str] = []
    form_service: str = ""
    form_version: str = ""
    form_steps: str = "10,25,50"
    form_analysis: str = "60"
    form_hold: bool = False
    form_error: str = ""
    _busy: float = 0.0

    @rx.event
    def on_load(self):
        self._reset_page()
        self.form_error = ""
        self.form_service = self._query().get("service", self.form_service)
        return self._login_redirect() or RolloutsState.refresh

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or RolloutsState.refresh

    @rx.event(background=True)
    async def refresh(self):
        await refresh_with(self, loaders.load_rollouts, {}, _apply_list)

    @rx.event
    def set_form(self, key: str, value: str) -> None:
        if key in {"service", "version", "steps", "analysis"}:
            setattr(self, f"form_{key}", value)

    @rx.event
    def set_hold(self, value: bool) -> None:
        self.form_hold = bool(value)

    @rx.event
    async def start(self, _form: dict | None = None):
        """POST /rollouts (with an Idempotency-Key, so a double click starts one rollout)."""
        if not can(self.user_role, Action.START_ROLLOUT):
            return None
        body, error = logic.start_request(self.form_service, self.form_version, self.form_steps,
                                          self.form_analysis, self.form_hold)
        if error:
            self.form_error = error[0].upper() + error[1:] + "."
            return None
        try:
            created = await asyncio.to_thread(call_api, self.token, "POST", "/api/v1/rollouts", json=body,
                                              headers={"Idempotency-Key": str(uuid.uuid4())})
        except ApiError as exc:
            self.form_error = (f"Refused: {exc}" if 400 <= exc.status < 500
                               else unreachable_message(exc.status, exc.code, str(exc)))
            return None
        self.form_error = ""
        rid = created.get("id") if isinstance(created, dict) else None
        return rx.redirect(f"/rollout?id={quote(str(rid), safe='')}") if rid else RolloutsState.refresh


def _apply_list(state: Any, data: dict[str, Any]) -> None:
    state.rows = data["rows"]
    state.services = data["services"]
    if not state.form_service and data["services"]:
        state.form_service = data["services"][0]


class RolloutState(AppState):
    """One rollout, live: steps, canary-vs-stable charts with verdicts, history, controls."""

    rollout_id: str = ""
    rollout: dict[str, Any] = {}
    phase: str = ""
    steps: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    markers: list[dict[str, str]] = []
    why: str = ""
    errors: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    lines: list[dict[str, str]] = []
    latency_lines: list[dict[str, str]] = []
    reason: str = ""
    _busy: float = 0.0

    @rx.var
    def commands(self) -> list[dict[str, str]]:
        """Buttons to offer for this phase and role."""
        return logic.commands_for(logic.phase_of(self.phase), can(self.user_role, Action.CONTROL_ROLLOUT))

    @rx.event
    def on_load(self):
        self._reset_page()
        self.rollout_id = self._query().get("id", "")
        self.rollout, self.steps, self.history, self.errors, self.latency = {}, [], [], [], []
        self.reason = ""
        return self._login_redirect() or RolloutState.refresh

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or RolloutState.refresh

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            params = {"id": self.rollout_id}
        await refresh_with(self, loaders.load_rollout, params, _apply_rollout)

    @rx.event
    def set_reason(self, value: str) -> None:
        self.reason = value

    @rx.event
    async def command(self, command: str):
        """POST /rollouts/{id}/{command}; abort needs a reason."""
        if command not in logic.COMMAND_LABELS or not can(self.user_role, Action.CONTROL_ROLLOUT):
            return None
        if command == "abort" and not self.reason.strip():
            self.action_error = "Say why you abort: the reason is kept in the rollout's history."
            return None
        body = {"reason": self.reason.strip()} if self.reason.strip() else {}
        try:
            await asyncio.to_thread(call_api, self.token, "POST",
                                    f"/api/v1/rollouts/{quote(self.rollout_id, safe='')}/{command}", json=body)
        except ApiError as exc:
            self.action_error = (f"Refused: {exc}" if 400 <= exc.status < 500
                                 else unreachable_message(exc.status, exc.code, str(exc)))
            return None
        self.action_error = ""
        self.action_message = f"{logic.COMMAND_LABELS[command]}: sent."
        self.reason = ""
        return RolloutState.refresh


def _apply_rollout(state: Any, data: dict[str, Any]) -> None:
    for key in ("rollout", "phase", "steps", "history", "markers", "why", "errors", "latency", "lines",
                "latency_lines"):
        setattr(state, key, data[key])
