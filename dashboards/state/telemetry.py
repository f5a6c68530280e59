"""Trace search, trace view and logs states."""

# ruff: noqa: RUF012  (Reflex declares state vars as class attributes with mutable defaults;
# it copies them per session, so the shared-default hazard this rule guards against does not apply)

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from control_plane.client import ApiError
from dashboards.logic import logs as log_logic
from dashboards.logic import traces as trace_logic
from dashboards.logic.urls import TIME_WINDOWS, window_or_default, with_query
from dashboards.state import loaders
from dashboards.state.base import AppState, refresh_with, replace_url
from dashboards.state.client import api

TRACE_FILTERS = ("service", "operation", "status", "min_duration_ms", "max_duration_ms", "window")
LOG_FILTERS = ("service", "severity", "q", "trace_id", "window")


async def _service_names(token: str) -> list[str]:
    client = api(token)
    try:
        return await asyncio.to_thread(loaders.service_names, client)
    except ApiError:
        return []
    finally:
        client.close()


class TracesState(AppState):
    """Trace search: filters in the query string, results as a scatter and a list."""

    filters: dict[str, str] = {}
    services: list[str] = []
    windows: list[str] = TIME_WINDOWS
    rows: list[dict[str, Any]] = []
    ok_points: list[dict[str, Any]] = []
    error_points: list[dict[str, Any]] = []
    _busy: float = 0.0

    @rx.event
    def on_load(self):
        self._reset_page()
        q = self._query()
        self.filters = {k: q.get(k, "") for k in TRACE_FILTERS}
        self.filters["window"] = window_or_default(self.filters["window"])
        return self._login_redirect() or [TracesState.refresh, TracesState.load_services]

    @rx.event(background=True)
    async def load_services(self):
        """Fill the service filter off the lock (the results do not wait for it)."""
        async with self:
            token = self.token
        names = await _service_names(token)
        async with self:
            self.services = names

    @rx.event
    def set_filter(self, key: str, value: str) -> None:
        if key in TRACE_FILTERS:
            self.filters = {**self.filters, key: "" if value == "any" else value}

    @rx.event
    def search(self, _form: dict | None = None):
        """Run the search and put its filters in the URL."""
        return [replace_url(with_query("/traces", self.filters)), TracesState.refresh]

    @rx.event
    def tick(self, _value: str = ""):
        return self._login_redirect() or TracesState.refresh

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            params = dict(self.filters)
        await refresh_with(self, loaders.load_traces, params, _apply_traces)


def _apply_traces(state: Any, data: dict[str, Any]) -> None:
    state.rows = data["rows"]
    state.ok_points = data["scatter"]["ok"]
    state.error_points = data["scatter"]["error"]


class TraceState(AppState):
    """One trace: waterfall, span details, and its logs beside it."""

    trace_id: str = ""
    span_id: str = ""
    spans: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    summary: dict[str, str] = {}
    span: dict[str, Any] = {}
    span_attributes: list[dict[str, str]] = []
    span_events: list[dict[str, str]] = []
    logs: list[dict[str, Any]] = []
    _payload: dict[str, Any] = {}
    _busy: float = 0.0

    @rx.event
    def on_load(self):
        self._reset_page()
        q = self._query()
        self.trace_id = q.get("id", "")
        self.span_id = q.get("span", "")
        self.spans, self.logs, self.span_attributes, self.span_events = [], [], [], []
        return self._login_redirect() or TraceState.refresh

    @rx.event
    def select_span(self, span_id: str):
        """Show one span's details (and remember it in the URL)."""
        self.span_id = span_id
        self._show_span()
        return replace_url(with_query("/trace", {"id": self.trace_id, "span": span_id}))

    def _show_span(self) -> None:
        details = trace_logic.span_details(self._payload, self.span_id)
        self.span = {k: v for k, v in details.items() if isinstance(v, str)}
        self.span_attributes = details.get("attributes", [])
        self.span_events = details.get("events", [])

    @rx.event(background=True)
    async def refresh(self):
        """Traces do not change once complete: fetched on load, refreshed only by the button."""
        async with self:
            params = {"id": self.trace_id, "span": self.span_id}
        await refresh_with(self, loaders.load_trace, params, _apply_trace)


def _apply_trace(state: Any, data: dict[str, Any]) -> None:
    view = data["view"]
    state._payload = data["payload"] if isinstance(data["payload"], dict) else {"spans": data["payload"]}
    state.spans = view["rows"]
    state.services = view.get("service_colours", [])
    state.summary = {"duration": view["duration"], "start": view["start"], "spans": str(view["span_count"]),
                     "errors": str(view["errors"])}
    if not state.span_id and view["rows"]:
        state.span_id = view["rows"][0]["span_id"]
    details = data["span"] if data["span"] else trace_logic.span_details(state._payload, state.span_id)
    state.span = {k: v for k, v in details.items() if isinstance(v, str)}
    state.span_attributes = details.get("attributes", [])
    state.span_events = details.get("events", [])
    state.logs = data["logs"]


class LogsState(AppState):
    """Log search with filters and a live tail that can be paused."""

    filters: dict[str, str] = {}
    services: list[str] = []
    severities: list[str] = log_logic.SEVERITIES
    windows: list[str] = TIME_WINDOWS
    rows: list[dict[str, Any]] = []
    live: bool = True
    _busy: float = 0.0
    _mode: str = "search"

    @rx.event
    def on_load(self):
        self._reset_page()
        q = self._query()
        self.filters = {k: q.get(k, "") for k in LOG_FILTERS}
        self.filters["window"] = window_or_default(self.filters["window"])
        self.live = q.get("live", "1") != "0"
        self.rows = []
        self._mode = "search"
        return self._login_redirect() or [LogsState.refresh, LogsState.load_services]

    @rx.event(background=True)
    async def load_services(self):
        """Fill the service filter off the lock (the lines do not wait for it)."""
        async with self:
            token = self.token
        names = await _service_names(token)
        async with self:
            self.services = names

    @rx.event
    def set_filter(self, key: str, value: str) -> None:
        if key in LOG_FILTERS:
            self.filters = {**self.filters, key: "" if value == "any" else value}

    def _url(self) -> str:
        return with_query("/logs", {**self.filters, "live": "" if self.live else "0"})

    @rx.event
    def search(self, _form: dict | None = None):
        self.rows = []
        self._mode = "search"
        return [replace_url(self._url()), LogsState.refresh]

    @rx.event
    def toggle_live(self):
        """Pause or resume the live tail."""
        self.live = not self.live
        return replace_url(self._url())

    @rx.event
    def tick(self, _value: str = ""):
        redirect = self._login_redirect()
        if redirect:
            return redirect
        if not self.live:
            return None
        self._mode = "tail"
        return LogsState.refresh

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            params = dict(self.filters)
            since = self.rows[0]["epoch"] if (self._mode == "tail" and self.rows) else None
        await refresh_with(self, lambda c, p: loaders.load_logs(c, p, since=since), params, _apply_logs)


def _apply_logs(state: Any, data: dict[str, Any]) -> None:
    if state._mode == "tail":
        state.rows = log_logic.merge_tail(state.rows, data["rows"])
    else:
        state.rows = data["rows"]
