"""The session state every page shares: identity, permissions, freshness, and the refresh helper.

Live updates: each page renders an invisible timer (``components.layout.ticker``) that sends
``tick`` every few seconds; ``tick`` starts the page's background ``refresh``, which calls the API
off the state lock. A timer in the browser rather than an endless server-side loop means a closed
tab stops its refreshes by itself, so no loop outlives its page.
"""

# ruff: noqa: RUF012  (Reflex declares state vars as class attributes with mutable defaults;
# it copies them per session, so the shared-default hazard this rule guards against does not apply)

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic import roles
from dashboards.logic.freshness import Freshness, freshness, unreachable_message
from dashboards.logic.urls import with_query
from dashboards.state.client import DEFAULT_TIMEOUT_S, api, settings

COOKIE_AGE = 12 * 3600
BUSY_SLACK_S = 2.0


class AppState(rx.State):
    """Identity (kept in cookies so a reload keeps the session) and freshness of the current page."""

    token: str = rx.Cookie("", name="fleetdeck_token", same_site="strict", max_age=COOKIE_AGE)
    user_name: str = rx.Cookie("", name="fleetdeck_user", same_site="strict", max_age=COOKIE_AGE)
    user_role: str = rx.Cookie("", name="fleetdeck_role", same_site="strict", max_age=COOKIE_AGE)
    last_ok: float = 0.0
    last_error: str = ""
    warnings: list[str] = []
    now: float = 0.0
    action_message: str = ""
    action_error: str = ""

    @rx.var
    def perms(self) -> dict[str, bool]:
        """What the signed-in role may do (keys are ``roles.Action`` values)."""
        return roles.permissions(self.user_role)

    @rx.var
    def nav(self) -> list[dict[str, str]]:
        """Navigation links for the signed-in role."""
        return roles.nav_items(self.user_role)

    @rx.var
    def signed_in(self) -> bool:
        """Whether there is a session token."""
        return bool(self.token)

    def _freshness(self):
        return freshness(self.last_ok or None, self.last_error, self.now or time.time(),
                         settings().refresh_seconds)

    @rx.var
    def fresh_label(self) -> str:
        """'refreshed 14:03:07 UTC', 'stale: …', 'not updating' or 'loading…'."""
        return self._freshness().label

    @rx.var
    def fresh_state(self) -> str:
        """A ``Freshness`` value, for the colour of the label."""
        return self._freshness().state.value

    @rx.var
    def banner(self) -> str:
        """The plain sentence shown when data cannot be refreshed ('' when all is well)."""
        return self._freshness().banner

    @rx.var
    def data_ok(self) -> bool:
        """Numbers may be shown: loaded and the last refresh succeeded."""
        return self._freshness().state in (Freshness.FRESH, Freshness.STALE) and not self.last_error

    def _login_redirect(self):
        """A redirect to the login page (keeping where to come back to), or None when signed in."""
        if self.token:
            return None
        url = self.router.url
        here = url.path + (f"?{url.query}" if url.query else "")
        return rx.redirect(with_query("/login", {"next": here}))

    def _reset_page(self) -> None:
        for attr in ("_busy", "_graph_busy"):  # a page (re)load starts its refreshes afresh
            if hasattr(self, attr):
                setattr(self, attr, 0.0)
        self.last_ok = 0.0
        self.last_error = ""
        self.warnings = []
        self.action_message = ""
        self.action_error = ""
        self.now = time.time()

    def _query(self) -> dict[str, str]:
        return dict(self.router.url.query_parameters)

    @rx.event
    def logout(self):
        """Forget the session and go to the login page."""
        self.token = ""
        self.user_name = ""
        self.user_role = ""
        return rx.redirect("/login")


async def refresh_with(state: Any, loader: Callable[..., dict[str, Any]], params: dict[str, str],
                       apply: Callable[[Any, dict[str, Any]], None], busy_attr: str = "_busy",
                       track: bool = True, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Run ``loader(client, params)`` in a thread and ``apply`` its result under the state lock.

    ``state`` is the background task's state proxy. A failure keeps nothing of the old numbers on
    screen as current: it sets ``last_error`` (the banner) and the page hides its figures. A 401
    sends the user back to the login page. With ``track=False`` (a secondary panel refreshing on
    its own) the page's freshness is left alone and only ``apply`` runs, on success.
    """
    async with state:
        # ``busy_attr`` holds when the running refresh started (0: none). A refresh cancelled
        # mid-flight (the tab reloaded) never clears it, so a claim older than the timeout expires.
        started = getattr(state, busy_attr)
        if started and time.time() - started < timeout + BUSY_SLACK_S:
            return
        setattr(state, busy_attr, time.time())
        token = state.token
    data: dict[str, Any] | None = None
    error: ApiError | None = None
    client = api(token, timeout)
    try:
        data = await asyncio.to_thread(loader, client, params)
    except ApiError as exc:
        error = exc
    finally:
        await asyncio.to_thread(client.close)
    async with state:
        setattr(state, busy_attr, 0.0)
        if not track:
            if data is not None:
                apply(state, data)
            return
        state.now = time.time()
        if error is not None:
            if error.status == 401:
                state.token = ""
                state.last_error = "Your session has expired; sign in again"
                return
            state.last_error = unreachable_message(error.status, error.code, str(error))
            return
        assert data is not None
        state.last_error = ""
        state.last_ok = state.now
        state.warnings = list(data.get("warnings", []))
        apply(state, data)


def call_api(token: str, method: str, path: str, *, json: Any = None,
             headers: dict[str, str] | None = None) -> Any:
    """One command request (scale, restart, promote ...) with its own client; raises ApiError."""
    client = api(token)
    try:
        return client.request(method, path, json=json, headers=headers)
    finally:
        client.close()


def replace_url(url: str):
    """Put the page's current filters in the address bar without reloading (shareable URLs)."""
    import json as _json

    return rx.call_script(f"window.history.replaceState(null, '', {_json.dumps(url)})")
