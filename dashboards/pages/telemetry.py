"""/traces?…, /trace?id=…&span=…, /logs?…"""

import reflex as rx

from dashboards.components import telemetry
from dashboards.components.layout import page
from dashboards.state.telemetry import LogsState, TracesState, TraceState


def traces() -> rx.Component:
    return page("Traces", telemetry.trace_filters(), telemetry.trace_results(), on_tick=TracesState.tick)


def trace() -> rx.Component:
    s = TraceState.summary
    return page(
        rx.text("Trace ", rx.code(TraceState.trace_id)),
        rx.hstack(rx.badge("duration " + s["duration"].to(str)), rx.badge("start " + s["start"].to(str)),
                  rx.badge(s["spans"].to(str) + " spans"),
                  rx.badge(s["errors"].to(str) + " errors", color_scheme="red"), spacing="2"),
        rx.grid(telemetry.waterfall(), rx.vstack(telemetry.span_details(), telemetry.trace_logs(), spacing="3",
                                                 width="100%"),
                columns="3fr 2fr", spacing="3", width="100%"),
        actions=rx.button(rx.icon("refresh-cw", size=14), "Reload", size="1", variant="soft",
                          on_click=TraceState.refresh),
    )


def logs() -> rx.Component:
    return page("Logs", telemetry.log_filters(), telemetry.log_list(), on_tick=LogsState.tick)
