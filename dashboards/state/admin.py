"""Audit trail and token management (admin only; the API enforces it too)."""

# ruff: noqa: RUF012  (Reflex declares state vars as class attributes with mutable defaults;
# it copies them per session, so the shared-default hazard this rule guards against does not apply)

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic import admin as logic
from dashboards.logic.freshness import unreachable_message
from dashboards.logic.roles import Action, Role, can
from dashboards.logic.urls import with_query
from dashboards.state import loaders
from dashboards.state.base import AppState, call_api, refresh_with, replace_url


class AuditState(AppState):
    """Who did what, newest first, filterable by actor and action (in the URL)."""

    rows: list[dict[str, str]] = []
    actor: str = ""
    action: str = ""
    _busy: float = 0.0

    @rx.event
    def on_load(self):
        self._reset_page()
        q = self._query()
        self.actor, self.action = q.get("actor", ""), q.get("action", "")
        if not self.token:
            return self._login_redirect()
        if not can(self.user_role, Action.VIEW_AUDIT):
            return rx.redirect("/")
        return AuditState.refresh

    @rx.event
    def set_actor(self, value: str) -> None:
        self.actor = value

    @rx.event
    def set_action(self, value: str) -> None:
        self.action = value

    @rx.event
    def search(self, _form: dict | None = None):
        return [replace_url(with_query("/audit", {"actor": self.actor, "action": self.action})),
                AuditState.refresh]

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or AuditState.refresh

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            params = {"actor": self.actor, "action": self.action}
        await refresh_with(self, loaders.load_audit, params, _apply_rows)


class TokensState(AppState):
    """API tokens: create (the secret is shown once), list, revoke behind a confirmation."""

    rows: list[dict[str, str]] = []
    roles: list[str] = [r.value for r in Role]
    new_name: str = ""
    new_role: str = Role.DEPLOYER.value
    created_secret: str = ""
    form_error: str = ""
    revoke_id: str = ""
    revoke_open: bool = False
    _busy: float = 0.0

    @rx.event
    def on_load(self):
        self._reset_page()
        self.created_secret = ""
        self.form_error = ""
        if not self.token:
            return self._login_redirect()
        if not can(self.user_role, Action.MANAGE_TOKENS):
            return rx.redirect("/")
        return TokensState.refresh

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or TokensState.refresh

    @rx.event(background=True)
    async def refresh(self):
        await refresh_with(self, loaders.load_tokens, {}, _apply_rows)

    @rx.event
    def set_new_name(self, value: str) -> None:
        self.new_name = value

    @rx.event
    def set_new_role(self, value: str) -> None:
        self.new_role = value

    @rx.event
    async def create(self, _form: dict | None = None):
        body, error = logic.token_request(self.new_name, self.new_role)
        if error:
            self.form_error = error[0].upper() + error[1:] + "."
            return None
        try:
            created = await asyncio.to_thread(call_api, self.token, "POST", "/api/v1/tokens", json=body)
        except ApiError as exc:
            self.form_error = (f"Refused: {exc}" if 400 <= exc.status < 500
                               else unreachable_message(exc.status, exc.code, str(exc)))
            return None
        self.form_error = ""
        self.new_name = ""
        self.created_secret = str(created.get("token", "")) if isinstance(created, dict) else ""
        return TokensState.refresh

    @rx.event
    def ask_revoke(self, token_id: str) -> None:
        self.revoke_id = token_id
        self.revoke_open = True

    @rx.event
    def cancel_revoke(self) -> None:
        self.revoke_open = False

    @rx.event
    async def revoke(self):
        self.revoke_open = False
        try:
            await asyncio.to_thread(call_api, self.token, "DELETE", f"/api/v1/tokens/{quote(self.revoke_id, safe='')}")
        except ApiError as exc:
            self.action_error = unreachable_message(exc.status, exc.code, str(exc))
            return None
        self.action_message = f"Token {self.revoke_id} revoked: requests using it are refused from now on."
        return TokensState.refresh


def _apply_rows(state: Any, data: dict[str, Any]) -> None:
    state.rows = data["rows"]
