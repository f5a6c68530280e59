"""Trace search, waterfall, span details and log line pieces."""

from __future__ import annotations

from typing import Any

import reflex as rx

from dashboards.components.charts import scatter
from dashboards.components.layout import empty, panel
from dashboards.state.telemetry import LogsState, TracesState, TraceState


def _select(options: Any, value: Any, on_change: Any, placeholder: str, label: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=placeholder, aria_label=label, width="140px"),
        rx.select.content(rx.select.item("any", value="any"), rx.foreach(options, lambda o: rx.select.item(o, value=o))),
        value=rx.cond(value == "", "any", value), on_change=on_change, size="1")


def trace_filters() -> rx.Component:
    f = TracesState.filters
    return rx.form(rx.hstack(
        _select(TracesState.services, f["service"], lambda v: TracesState.set_filter("service", v), "service",
                "service"),
        rx.input(placeholder="operation", value=f["operation"], size="1", width="180px",
                 on_change=lambda v: TracesState.set_filter("operation", v)),
        _select(["ok", "error"], f["status"], lambda v: TracesState.set_filter("status", v), "status", "status"),
        rx.input(placeholder="min ms", value=f["min_duration_ms"], size="1", width="80px",
                 on_change=lambda v: TracesState.set_filter("min_duration_ms", v)),
        rx.input(placeholder="max ms", value=f["max_duration_ms"], size="1", width="80px",
                 on_change=lambda v: TracesState.set_filter("max_duration_ms", v)),
        rx.select(TracesState.windows, value=f["window"], size="1",
                  on_change=lambda v: TracesState.set_filter("window", v)),
        rx.button(rx.icon("search", size=14), "Search", size="1", type="submit", id="trace-search"),
        spacing="2", wrap="wrap", align="center"), on_submit=TracesState.search, width="100%")


def _trace_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.code(row["trace_id"].to(str)[:16]), href="/trace?id=" + row["trace_id"].to(str),
                              class_name="trace-link")),
        rx.table.cell(rx.hstack(rx.box(width="8px", height="8px", background=row["colour"], border_radius="2px"),
                                rx.text(row["service"], size="2"), align="center", spacing="1")),
        rx.table.cell(rx.text(row["operation"], size="2")),
        rx.table.cell(row["start"]), rx.table.cell(row["duration"]), rx.table.cell(row["spans"]),
        rx.table.cell(rx.badge(row["status"], color_scheme=rx.cond(row["status"] == "error", "red", "green"))),
    )


def trace_results() -> rx.Component:
    return rx.vstack(
        panel("Duration over time", rx.cond(TracesState.rows.length() > 0,
                                            scatter(TracesState.ok_points, TracesState.error_points),
                                            empty("No traces match."))),
        panel(rx.text("Traces (", TracesState.rows.length().to(str), ")"), rx.cond(
            TracesState.rows.length() > 0,
            rx.box(rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                    "Trace", "Root service", "Operation", "Start (UTC)", "Duration", "Spans", "Status")])),
                rx.table.body(rx.foreach(TracesState.rows, _trace_row)), size="1", variant="ghost", width="100%",
                id="trace-results"), max_height="420px", overflow_y="auto", width="100%"),
            empty("No traces match these filters in this window."))),
        width="100%", spacing="3")


def _span_row(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.hstack(
            rx.box(width=row["indent"], flex_shrink="0"),
            rx.box(width="4px", height="14px", background=row["colour"], flex_shrink="0"),
            rx.text(row["service"], size="1", color_scheme="gray", white_space="nowrap"),
            rx.text(row["name"], size="1", weight=rx.cond(row["critical"], "bold", "regular"), white_space="nowrap",
                    overflow="hidden", text_overflow="ellipsis"),
            width="38%", spacing="1", align="center", overflow="hidden"),
        rx.box(
            rx.box(position="absolute", left=row["left"], width=row["width"], top="3px", height="12px",
                   background=row["colour"], border_radius="2px",
                   outline=rx.cond(row["critical"], "2px solid var(--gray-12)", "none"),
                   opacity=rx.cond(row["critical"], "1", "0.75")),
            position="relative", flex_grow="1", height="18px"),
        rx.text(row["duration"], size="1", width="70px", text_align="right"),
        rx.cond(row["error"], rx.icon("circle-alert", size=12, color="var(--red-9)"), rx.box(width="12px")),
        width="100%", spacing="2", align="center", padding_y="1px", cursor="pointer",
        background=rx.cond(row["span_id"] == TraceState.span_id, "var(--accent-a4)", "transparent"),
        on_click=TraceState.select_span(row["span_id"]), class_name="span-row",
    )


def waterfall() -> rx.Component:
    return panel(rx.hstack(
        rx.text("Waterfall"), rx.spacer(),
        rx.foreach(TraceState.services, lambda s: rx.hstack(
            rx.box(width="10px", height="10px", background=s["colour"]), rx.text(s["service"], size="1"),
            spacing="1", align="center")),
        rx.hstack(rx.box(width="14px", height="10px", outline="2px solid var(--gray-12)"),
                  rx.text("critical path", size="1"), spacing="1", align="center"),
        spacing="3", width="100%", wrap="wrap"),
        rx.cond(TraceState.spans.length() > 0,
                rx.vstack(rx.foreach(TraceState.spans, _span_row), spacing="0", width="100%", id="waterfall",
                          max_height="520px", overflow_y="auto"),
                empty("This trace has no spans (yet).")))


def span_details() -> rx.Component:
    s = TraceState.span
    return panel(rx.text("Span ", rx.code(s["name"])), rx.cond(
        TraceState.span_attributes.length() > 0,
        rx.vstack(
            rx.hstack(rx.badge(s["service"]), rx.badge("status " + s["status"].to(str),
                                                       color_scheme=rx.cond(s["status"] == "error", "red", "gray")),
                      rx.badge(s["duration"]), rx.badge("kind " + s["kind"].to(str)), spacing="1", wrap="wrap"),
            rx.cond(s["status_message"] != "", rx.text(s["status_message"], size="1", color_scheme="red")),
            rx.box(rx.foreach(TraceState.span_attributes, lambda a: rx.hstack(
                rx.text(a["key"], size="1", color_scheme="gray", min_width="40%"),
                rx.text(a["value"], size="1", word_break="break-all"), width="100%")),
                max_height="220px", overflow_y="auto", width="100%"),
            rx.cond(TraceState.span_events.length() > 0, rx.vstack(
                rx.text("Events", size="1", weight="bold"),
                rx.foreach(TraceState.span_events, lambda e: rx.text(
                    "+" + e["at"].to(str) + " " + e["name"].to(str) + " " + e["attributes"].to(str), size="1")),
                spacing="0")),
            spacing="2", width="100%"),
        empty("Pick a span in the waterfall.")), id="span-details")


def log_line(row: rx.Var) -> rx.Component:
    """One log line: time, severity colour, service, body, and a link to its trace."""
    return rx.hstack(
        rx.text(row["time"], size="1", font_family="monospace", color_scheme="gray", white_space="nowrap"),
        rx.badge(row["severity"], color_scheme=row["colour"], size="1", min_width="48px"),
        rx.text(row["service"], size="1", weight="medium", white_space="nowrap"),
        rx.text(row["body"], size="1", font_family="monospace", flex_grow="1", word_break="break-word"),
        rx.cond(row["trace_id"] != "", rx.link(rx.icon("waypoints", size=14), href=row["trace_href"],
                                                title="open trace", class_name="log-trace-link")),
        width="100%", spacing="2", align="start", padding_y="2px", border_bottom="1px solid var(--gray-a3)",
        class_name="log-line",
    )


def trace_logs() -> rx.Component:
    return panel("Logs of this trace", rx.cond(
        TraceState.logs.length() > 0,
        rx.vstack(rx.foreach(TraceState.logs, log_line), spacing="0", width="100%", max_height="420px",
                  overflow_y="auto"),
        empty("No logs carry this trace id.")))


def log_filters() -> rx.Component:
    f = LogsState.filters
    return rx.form(rx.hstack(
        _select(LogsState.services, f["service"], lambda v: LogsState.set_filter("service", v), "service",
                "service"),
        _select(LogsState.severities, f["severity"], lambda v: LogsState.set_filter("severity", v), "severity",
                "severity"),
        rx.input(placeholder="text contains…", value=f["q"], size="1", width="240px",
                 on_change=lambda v: LogsState.set_filter("q", v)),
        rx.input(placeholder="trace id", value=f["trace_id"], size="1", width="160px",
                 on_change=lambda v: LogsState.set_filter("trace_id", v)),
        rx.select(LogsState.windows, value=f["window"], size="1",
                  on_change=lambda v: LogsState.set_filter("window", v)),
        rx.button(rx.icon("search", size=14), "Search", size="1", type="submit", id="log-search"),
        rx.spacer(),
        rx.button(rx.cond(LogsState.live, rx.icon("pause", size=14), rx.icon("play", size=14)),
                  rx.cond(LogsState.live, "Pause live tail", "Resume live tail"), size="1", type="button",
                  variant="soft", color_scheme=rx.cond(LogsState.live, "green", "gray"),
                  on_click=LogsState.toggle_live, id="live-toggle"),
        spacing="2", wrap="wrap", align="center", width="100%"), on_submit=LogsState.search, width="100%")


def log_list() -> rx.Component:
    return panel(rx.hstack(rx.text("Log lines (", LogsState.rows.length().to(str), ", newest first)"),
                           rx.cond(LogsState.live, rx.badge("live", color_scheme="green"),
                                   rx.badge("paused", color_scheme="gray")), spacing="2"),
                 rx.cond(LogsState.rows.length() > 0,
                         rx.vstack(rx.foreach(LogsState.rows, log_line), spacing="0", width="100%",
                                   max_height="calc(100vh - 260px)", overflow_y="auto", id="log-lines"),
                         empty("No log lines match.")))
