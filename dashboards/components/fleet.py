"""Overview and service page pieces."""

from __future__ import annotations

from typing import Any

import reflex as rx

from dashboards.components.charts import series_chart, sparkline
from dashboards.components.graph import service_graph
from dashboards.components.layout import empty, health_dot, panel
from dashboards.state.base import AppState
from dashboards.state.fleet import OverviewState, ServiceState


def _metric_cell(value: Any, trend: Any, colour: str) -> rx.Component:
    return rx.table.cell(rx.hstack(rx.text(rx.cond(AppState.data_ok, value, "—"), size="2", min_width="64px"),
                                   rx.cond(AppState.data_ok, sparkline(trend, colour)),
                                   align="center", spacing="2"))


def _service_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.hstack(health_dot(row["health_colour"]),
                                rx.link(row["name"], href="/service?name=" + row["name"].to(str), weight="medium"),
                                align="center", spacing="2")),
        rx.table.cell(rx.text(_current(row["versions"]), size="2")),
        rx.table.cell(rx.text(_current(row["instances"]), size="2",
                              color_scheme=rx.cond(row["instances_ok"], "gray", "amber"))),
        _metric_cell(row["rps"], row["rps_trend"], "#3e63dd"),
        _metric_cell(row["error_ratio"], row["error_trend"], "#e5484d"),
        _metric_cell(row["p95"], row["p95_trend"], "#f76b15"),
        rx.table.cell(rx.hstack(
            rx.cond(row["rollout"] != "",
                    rx.link(rx.badge(rx.icon("rocket", size=12), row["rollout"], color_scheme="blue"),
                            href="/rollout?id=" + row["rollout_id"].to(str))),
            rx.cond(row["incident"] != "", rx.badge(rx.icon("siren", size=12), "incident", color_scheme="red")),
            spacing="1")),
        class_name="service-row",
    )


def services_table() -> rx.Component:
    """Every service with versions, instances, RED now and trends, rollout/incident flags."""
    return panel("Services", rx.cond(
        OverviewState.rows.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                "Service", "Versions (weight)", "Healthy", "Requests", "Errors", "p95 latency", "Flags")])),
            rx.table.body(rx.foreach(OverviewState.rows, _service_row)),
            size="1", variant="ghost", width="100%", id="services-table"),
        empty("No services yet.")))


def graph_panel() -> rx.Component:
    """The service graph (or why it is empty)."""
    return panel(rx.hstack(rx.text("Service graph (calls in the last 2 minutes)"), rx.spacer(), *[
        rx.hstack(health_dot(c), rx.text(label, size="1", color_scheme="gray"), align="center", spacing="1")
        for c, label in (("#30a46c", "ok"), ("#f5d90a", "≥1% errors"), ("#e5484d", "≥5% errors"),
                         ("#8b8d98", "no data"))], width="100%", spacing="3"),
        rx.cond(OverviewState.graph_note != "", rx.text(OverviewState.graph_note, size="1", color_scheme="amber")),
        rx.cond(OverviewState.graph_nodes.length() > 0,
                service_graph(OverviewState.graph_nodes, OverviewState.graph_edges),
                empty("No calls seen in the last 2 minutes.")))


def _current(value: Any) -> Any:
    """``value`` while the page's data is current; a dash once a refresh has failed (never stale as current)."""
    return rx.cond(AppState.data_ok, value, "—")


def _instance_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.hstack(health_dot(rx.cond(AppState.data_ok, row["health_colour"], "#8b8d98")),
                                rx.code(row["id"]), spacing="2", align="center")),
        rx.table.cell(row["version"]), rx.table.cell(_current(row["health"])),
        rx.table.cell(_current(row["restarts"])),
        rx.table.cell(row["port"]), rx.table.cell(_current(row["pid"])), rx.table.cell(_current(row["started"])),
        rx.table.cell(rx.cond(AppState.perms["restart"],
                              rx.button("Restart", size="1", variant="soft", color_scheme="orange",
                                        on_click=ServiceState.ask_restart(row["id"]),
                                        class_name="restart-button"))),
    )


def instances_panel() -> rx.Component:
    return panel("Instances", rx.cond(
        ServiceState.instances.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                "Instance", "Version", "Health", "Restarts", "Port", "PID", "Started (UTC)", "")])),
            rx.table.body(rx.foreach(ServiceState.instances, _instance_row)),
            size="1", variant="ghost", width="100%"),
        empty("No instances running.")))


def _version_controls(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["version"], weight="medium")),
        rx.table.cell(_current(row["instances"].to(str) + " running")),
        rx.table.cell(rx.cond(
            AppState.perms["scale"],
            rx.hstack(rx.input(default_value=row["replicas"].to(str), width="60px", size="1",
                               on_change=lambda v: ServiceState.set_replica_input(row["version"], v),
                               aria_label="replicas"),
                      rx.button("Scale…", size="1", variant="soft",
                                on_click=ServiceState.ask_scale(row["version"])), spacing="2"),
            rx.text(_current(row["replicas"].to(str) + " replicas")))),
        rx.table.cell(rx.cond(
            AppState.perms["set_weights"],
            rx.hstack(rx.input(default_value=row["weight"].to(str), width="60px", size="1",
                               on_change=lambda v: ServiceState.set_weight_input(row["version"], v),
                               aria_label="weight"), rx.text("%"), spacing="1", align="center"),
            rx.text(_current(row["weight"].to(str) + "%")))),
    )


def versions_panel() -> rx.Component:
    return panel("Versions and traffic", rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Version", "Instances", "Replicas", "Traffic weight")])),
        rx.table.body(rx.foreach(ServiceState.versions, _version_controls)), size="1", variant="ghost",
        width="100%"),
        rx.cond(AppState.perms["set_weights"],
                rx.button("Set weights…", size="1", on_click=ServiceState.ask_weights, id="set-weights")))


def confirm_dialog() -> rx.Component:
    """The one confirmation dialog of the service page: it names the effect before anything happens."""
    return rx.alert_dialog.root(rx.alert_dialog.content(
        rx.alert_dialog.title(ServiceState.confirm_title),
        rx.alert_dialog.description(ServiceState.confirm_effect, id="confirm-effect"),
        rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                   on_click=ServiceState.cancel)),
                  rx.alert_dialog.action(rx.button("Confirm", color_scheme="orange", on_click=ServiceState.confirm,
                                                   id="confirm-button")),
                  justify="end", spacing="3", margin_top="12px")),
        open=ServiceState.confirm_open)


def red_charts() -> rx.Component:
    """Rate, errors and latency per version."""
    return rx.grid(
        panel("Request rate (req/s)", rx.cond(AppState.data_ok & (ServiceState.rps.length() > 0),
                                              series_chart(ServiceState.rps, ServiceState.lines, ""),
                                              empty("No data for this window."))),
        panel("Error ratio (%)", rx.cond(AppState.data_ok & (ServiceState.errors.length() > 0),
                                         series_chart(ServiceState.errors, ServiceState.lines, "%"),
                                         empty("No data for this window."))),
        panel("Latency p50 / p95 / p99 (ms)", rx.cond(
            AppState.data_ok & (ServiceState.latency.length() > 0),
            series_chart(ServiceState.latency, ServiceState.latency_lines, "ms"),
            empty("No data for this window."))),
        columns="3", spacing="3", width="100%")


def side_panel() -> rx.Component:
    """Operations, links into traces and logs, recent rollouts."""
    return rx.vstack(
        panel("Explore", rx.hstack(
            rx.link(rx.button("Traces", size="1", variant="soft"),
                    href="/traces?service=" + ServiceState.name),
            rx.link(rx.button("Error traces", size="1", variant="soft", color_scheme="red"),
                    href="/traces?status=error&service=" + ServiceState.name),
            rx.link(rx.button("Logs", size="1", variant="soft"), href="/logs?service=" + ServiceState.name),
            spacing="2", wrap="wrap")),
        panel("Operations", rx.cond(ServiceState.operations.length() > 0, rx.vstack(rx.foreach(
            ServiceState.operations,
            lambda op: rx.link(op, size="1", href="/traces?service=" + ServiceState.name + "&operation=" + op)),
            spacing="1", max_height="180px", overflow_y="auto"), empty("None seen."))),
        rx.cond(AppState.perms["view_rollouts"], panel("Recent rollouts", rx.cond(
            ServiceState.rollouts.length() > 0,
            rx.vstack(rx.foreach(ServiceState.rollouts, lambda r: rx.link(
                rx.hstack(rx.badge(r["phase"], color_scheme=r["colour"]), rx.text(r["change"], size="1"),
                          rx.text(r["created"], size="1", color_scheme="gray"), spacing="2"),
                href="/rollout?id=" + r["id"].to(str))), spacing="1"),
            empty("None.")))),
        width="100%", spacing="3")
