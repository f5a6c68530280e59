"""Rollout list, start form, and rollout page pieces."""

from __future__ import annotations

import reflex as rx

from dashboards.components.charts import series_chart
from dashboards.components.layout import empty, panel
from dashboards.state.base import AppState
from dashboards.state.rollouts import RolloutsState, RolloutState


def _rollout_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.code(row["id"]), href="/rollout?id=" + row["id"].to(str), class_name="rollout-link")),
        rx.table.cell(rx.link(row["service"], href="/service?name=" + row["service"].to(str))),
        rx.table.cell(row["change"]),
        rx.table.cell(rx.badge(row["phase"], color_scheme=row["colour"])),
        rx.table.cell(row["step"]), rx.table.cell(row["created"]),
        rx.table.cell(rx.text(row["reason"], size="1", color_scheme="gray")),
    )


def rollout_list() -> rx.Component:
    return panel("Rollouts", rx.cond(
        RolloutsState.rows.length() > 0,
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "Id", "Service", "Change", "Phase", "Step", "Started (UTC)", "Reason")])),
            rx.table.body(rx.foreach(RolloutsState.rows, _rollout_row)), size="1", variant="ghost", width="100%",
            id="rollouts-table"),
        empty("No rollouts yet.")))


def start_form() -> rx.Component:
    return rx.cond(AppState.perms["start_rollout"], panel("Start a rollout", rx.form(rx.vstack(
        rx.hstack(
            rx.select(RolloutsState.services, value=RolloutsState.form_service, size="1",
                      on_change=lambda v: RolloutsState.set_form("service", v), name="service"),
            rx.input(placeholder="new version, e.g. v2", value=RolloutsState.form_version, size="1", width="160px",
                     on_change=lambda v: RolloutsState.set_form("version", v), name="version"),
            rx.input(placeholder="weights: 10,25,50", value=RolloutsState.form_steps, size="1", width="140px",
                     on_change=lambda v: RolloutsState.set_form("steps", v), name="steps"),
            rx.input(placeholder="analysis s", value=RolloutsState.form_analysis, size="1", width="90px",
                     on_change=lambda v: RolloutsState.set_form("analysis", v), name="analysis"),
            rx.checkbox("hold for a manual promote", checked=RolloutsState.form_hold,
                        on_change=RolloutsState.set_hold, size="1", id="hold", name="hold"),
            rx.button(rx.icon("rocket", size=14), "Start", size="1", type="submit", id="start-rollout"),
            spacing="2", wrap="wrap", align="center"),
        rx.text("Each weight is followed by an analysis of that many seconds comparing canary with stable; "
                "a failed analysis rolls back. After the last step it promotes (or holds, if asked).",
                size="1", color_scheme="gray"),
        rx.cond(RolloutsState.form_error != "", rx.text(RolloutsState.form_error, size="1", color_scheme="red",
                                                       id="form-error")),
        spacing="2"), on_submit=RolloutsState.start)))


def rollout_header() -> rx.Component:
    r = RolloutState.rollout
    return rx.hstack(
        rx.badge(RolloutState.phase, color_scheme=r["colour"].to(str), size="3", id="rollout-phase"),
        rx.link(r["service"].to(str), href="/service?name=" + r["service"].to(str), weight="bold"),
        rx.text(r["change"].to(str)), rx.text("step " + r["step"].to(str), color_scheme="gray"),
        rx.text("started " + r["created"].to(str), color_scheme="gray", size="1"),
        rx.cond(RolloutState.why != "", rx.callout(RolloutState.why, icon="info", size="1", id="rollout-why",
                                                   color_scheme=rx.cond(RolloutState.phase == "rolled_back",
                                                                        "red", "gray"))),
        spacing="3", align="center", wrap="wrap", width="100%")


def steps_panel() -> rx.Component:
    return panel("Steps", rx.hstack(rx.foreach(RolloutState.steps, lambda s: rx.badge(
        s["index"].to(str) + ". " + s["label"].to(str), color_scheme=s["colour"], size="2",
        variant=rx.cond(s["where"] == "current", "solid", "soft"), class_name="step-" + s["where"].to(str))),
        spacing="2", wrap="wrap"))


def controls() -> rx.Component:
    return rx.cond(RolloutState.commands.length() > 0, panel("Controls", rx.hstack(
        rx.input(placeholder="reason (required to abort)", value=RolloutState.reason, size="1", width="280px",
                 on_change=RolloutState.set_reason, id="reason"),
        rx.foreach(RolloutState.commands, lambda c: rx.button(
            c["label"], size="1", on_click=RolloutState.command(c["command"]),
            color_scheme=rx.cond(c["command"] == "abort", "red", "indigo"),
            variant=rx.cond(c["command"] == "abort", "solid", "soft"), class_name="rollout-command",
            id="cmd-" + c["command"].to(str))),
        spacing="2", wrap="wrap", align="center")))


def canary_charts() -> rx.Component:
    return rx.grid(
        panel("Error ratio (%): canary vs stable, verdicts marked", rx.cond(
            RolloutState.errors.length() > 0,
            series_chart(RolloutState.errors, RolloutState.lines, "%", markers=RolloutState.markers),
            empty("No metrics yet."))),
        panel("p95 latency (ms): canary vs stable, verdicts marked", rx.cond(
            RolloutState.latency.length() > 0,
            series_chart(RolloutState.latency, RolloutState.latency_lines, "ms", markers=RolloutState.markers),
            empty("No metrics yet."))),
        columns="2", spacing="3", width="100%")


def _history_row(h: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(h["at"], size="1", white_space="nowrap")),
        rx.table.cell(rx.hstack(rx.text(h["what"], size="1"),
                                rx.cond(h["verdict"] != "", rx.badge(h["verdict"], color_scheme=h["colour"])),
                                spacing="1")),
        rx.table.cell(rx.text(h["reason"], size="1")),
        rx.table.cell(rx.text(h["actor"], size="1")),
        rx.table.cell(rx.text(h["evidence"], size="1", font_family="monospace", word_break="break-all")),
    )


def history_panel() -> rx.Component:
    return panel("Decisions and evidence", rx.cond(
        RolloutState.history.length() > 0,
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "When (UTC)", "What", "Reason", "By", "Evidence")])),
            rx.table.body(rx.foreach(RolloutState.history, _history_row)), size="1", variant="ghost",
            width="100%", id="rollout-history"),
        empty("No decisions yet.")))
