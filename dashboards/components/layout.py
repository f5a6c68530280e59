"""Page frame: top bar (navigation, identity and role, freshness, theme), banners, and the refresh timer."""

from __future__ import annotations

from typing import Any

import reflex as rx

from dashboards.state.base import AppState

FRESH_COLOURS = {"fresh": "green", "stale": "amber", "down": "red", "loading": "gray"}


def ticker(on_tick: Any, interval_ms: int = 3000) -> rx.Component:
    """An invisible timer that sends ``on_tick`` every ``interval_ms`` while the page is open."""
    return rx.moment(interval=interval_ms, format="HH:mm:ss", on_change=on_tick, display="none")


def _nav_link(item: rx.Var) -> rx.Component:
    return rx.link(item["label"], href=item["route"], size="2", weight="medium", color_scheme="gray",
                   high_contrast=True, underline="none", padding_x="6px")


def top_bar() -> rx.Component:
    """Brand, navigation for the role, freshness, identity, theme toggle, sign-out."""
    return rx.hstack(
        rx.hstack(rx.icon("radar", size=18), rx.text("Fleetdeck", weight="bold", size="3"),
                  align="center", spacing="2"),
        rx.hstack(rx.foreach(AppState.nav, _nav_link), spacing="1", align="center"),
        rx.spacer(),
        rx.badge(rx.match(AppState.fresh_state, ("down", rx.icon("cloud-off", size=12)),
                          ("stale", rx.icon("clock-alert", size=12)), rx.icon("refresh-cw", size=12)),
                 AppState.fresh_label, id="freshness",
                 color_scheme=rx.match(AppState.fresh_state, ("fresh", "green"), ("stale", "amber"),
                                       ("down", "red"), "gray"), variant="soft"),
        rx.hstack(rx.icon("user", size=14), rx.text(AppState.user_name, size="2", id="identity"),
                  rx.badge(AppState.user_role, id="role", variant="outline"), align="center", spacing="1"),
        rx.color_mode.button(size="1", variant="ghost"),
        rx.button("Sign out", size="1", variant="soft", color_scheme="gray", on_click=AppState.logout),
        align="center", spacing="4", padding_x="16px", padding_y="8px", width="100%",
        border_bottom="1px solid var(--gray-a5)", background="var(--color-panel-solid)",
        position="sticky", top="0", z_index="10",
    )


def banners() -> rx.Component:
    """The plain-language banner when data cannot be refreshed, and secondary-source warnings."""
    return rx.vstack(
        rx.cond(AppState.banner != "",
                rx.callout(AppState.banner, icon="triangle-alert", color_scheme="red", role="alert",
                           id="unreachable-banner", width="100%", size="1")),
        rx.foreach(AppState.warnings,
                   lambda w: rx.callout(w, icon="info", color_scheme="amber", width="100%", size="1")),
        rx.cond(AppState.action_error != "",
                rx.callout(AppState.action_error, icon="ban", color_scheme="red", width="100%", size="1",
                           id="action-error")),
        rx.cond(AppState.action_message != "",
                rx.callout(AppState.action_message, icon="check", color_scheme="green", width="100%", size="1",
                           id="action-message")),
        width="100%", spacing="2",
    )


def page(title: Any, *children: rx.Component, on_tick: Any = None, actions: rx.Component | None = None,
         subtitle: Any = None) -> rx.Component:
    """A signed-in page: top bar, title row, banners, content (max 1600px, fits 1366×768)."""
    header = rx.hstack(
        rx.vstack(rx.heading(title, size="5", id="page-title"),
                  rx.text(subtitle, size="1", color_scheme="gray") if subtitle is not None else rx.fragment(),
                  spacing="0"),
        rx.spacer(), actions or rx.fragment(), align="center", width="100%")
    return rx.box(
        top_bar(),
        rx.vstack(header, banners(), *children, spacing="3", padding="16px", width="100%",
                  max_width="1600px", margin_x="auto", id="main-content"),
        ticker(on_tick) if on_tick is not None else rx.fragment(),
        min_height="100vh", background="var(--gray-1)",
    )


def panel(title: Any, *children: rx.Component, **props: Any) -> rx.Component:
    """A titled card."""
    return rx.card(rx.vstack(rx.text(title, size="2", weight="bold"), *children, spacing="2", width="100%"),
                   width="100%", size="1", **props)


def empty(text: str) -> rx.Component:
    """What an empty panel says instead of staying blank."""
    return rx.center(rx.text(text, size="2", color_scheme="gray"), padding="24px", width="100%")


def health_dot(colour: Any) -> rx.Component:
    """A small filled circle in a health colour."""
    return rx.box(width="10px", height="10px", border_radius="50%", background=colour, flex_shrink="0")
