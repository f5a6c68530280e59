"""Audit trail and tokens pieces."""

from __future__ import annotations

import reflex as rx

from dashboards.components.layout import empty, panel
from dashboards.state.admin import AuditState, TokensState


def audit_filters() -> rx.Component:
    return rx.form(rx.hstack(
        rx.input(placeholder="actor", value=AuditState.actor, on_change=AuditState.set_actor, size="1"),
        rx.input(placeholder="action", value=AuditState.action, on_change=AuditState.set_action, size="1"),
        rx.button("Filter", size="1", type="submit"), spacing="2"), on_submit=AuditState.search)


def audit_table() -> rx.Component:
    return panel("Audit trail", rx.cond(
        AuditState.rows.length() > 0,
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "When (UTC)", "Actor", "Action", "Target", "Outcome", "Details")])),
            rx.table.body(rx.foreach(AuditState.rows, lambda r: rx.table.row(
                rx.table.cell(rx.text(r["at"], size="1", white_space="nowrap")), rx.table.cell(r["actor"]),
                rx.table.cell(rx.code(r["action"])), rx.table.cell(r["target"]), rx.table.cell(r["outcome"]),
                rx.table.cell(rx.text(r["details"], size="1", font_family="monospace", word_break="break-all"))))),
            size="1", variant="ghost", width="100%", id="audit-table"),
        empty("Nothing recorded yet.")))


def token_form() -> rx.Component:
    return panel("Create a token", rx.form(rx.hstack(
        rx.input(placeholder="name (who or what uses it)", value=TokensState.new_name,
                 on_change=TokensState.set_new_name, size="1", width="260px"),
        rx.select(TokensState.roles, value=TokensState.new_role, on_change=TokensState.set_new_role, size="1"),
        rx.button("Create", size="1", type="submit", id="create-token"), spacing="2"), on_submit=TokensState.create),
        rx.cond(TokensState.form_error != "", rx.text(TokensState.form_error, color_scheme="red", size="1")),
        rx.cond(TokensState.created_secret != "", rx.callout(
            rx.vstack(rx.text("Copy this token now: it is shown only once.", weight="bold"),
                      rx.code(TokensState.created_secret, id="new-token-secret")),
            icon="key-round", color_scheme="green")))


def token_table() -> rx.Component:
    return panel("Tokens", rx.cond(
        TokensState.rows.length() > 0,
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "Id", "Name", "Role", "Owner", "Created", "Expires", "Last used", "")])),
            rx.table.body(rx.foreach(TokensState.rows, lambda t: rx.table.row(
                rx.table.cell(rx.code(t["id"])), rx.table.cell(t["name"]), rx.table.cell(rx.badge(t["role"])),
                rx.table.cell(t["owner"]), rx.table.cell(t["created"]), rx.table.cell(t["expires"]),
                rx.table.cell(t["last_used"]),
                rx.table.cell(rx.button("Revoke…", size="1", color_scheme="red", variant="soft",
                                        on_click=TokensState.ask_revoke(t["id"])))))),
            size="1", variant="ghost", width="100%"),
        empty("No tokens.")),
        rx.alert_dialog.root(rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke token"),
            rx.alert_dialog.description("Token " + TokensState.revoke_id +
                                        " stops working immediately; anything using it gets 401."),
            rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                       on_click=TokensState.cancel_revoke)),
                      rx.alert_dialog.action(rx.button("Revoke", color_scheme="red", on_click=TokensState.revoke)),
                      justify="end", spacing="3", margin_top="12px")),
            open=TokensState.revoke_open))
