"""Login page state."""

from __future__ import annotations

import asyncio

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic.freshness import unreachable_message
from dashboards.logic.roles import parse_role
from dashboards.logic.urls import safe_next
from dashboards.state.base import AppState, call_api


class LoginState(AppState):
    """User + password form; on success the token, name and role go into session cookies."""

    username: str = ""
    password: str = ""
    error: str = ""
    submitting: bool = False

    @rx.event
    def set_username(self, value: str) -> None:
        self.username = value

    @rx.event
    def set_password(self, value: str) -> None:
        self.password = value

    @rx.event
    def on_load(self):
        """Already signed in: go where the link pointed."""
        self.error = ""
        if self.token:
            return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
        return None

    @rx.event
    async def login(self, form: dict | None = None):
        """POST /auth/login and keep the session."""
        if form:
            self.username = str(form.get("username", self.username))
            self.password = str(form.get("password", self.password))
        if not self.username or not self.password:
            self.error = "Enter your user name and password."
            return
        self.submitting = True
        self.error = ""
        yield
        try:
            answer = await asyncio.to_thread(call_api, "", "POST", "/api/v1/auth/login",
                                             json={"username": self.username, "password": self.password})
        except ApiError as exc:
            self.submitting = False
            self.error = ("Wrong user name or password." if exc.status in (401, 403)
                          else unreachable_message(exc.status, exc.code, str(exc)) + ".")
            return
        self.submitting = False
        user = answer.get("user", {}) if isinstance(answer, dict) else {}
        role = parse_role(user.get("role"))
        if not isinstance(answer, dict) or not answer.get("token") or role is None:
            self.error = "The API answered the login with something unexpected."
            return
        self.token = str(answer["token"])
        self.user_name = str(user.get("name", self.username))
        self.user_role = role.value
        self.password = ""
        yield rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
