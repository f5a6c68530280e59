"""/login"""

import reflex as rx

from dashboards.state.auth import LoginState


def login() -> rx.Component:
    """User + password form."""
    return rx.center(rx.card(rx.form(rx.vstack(
        rx.hstack(rx.icon("radar", size=22), rx.heading("Fleetdeck", size="6"), align="center", spacing="2"),
        rx.text("Sign in to operate the fleet.", size="2", color_scheme="gray"),
        rx.input(placeholder="user name", name="username", value=LoginState.username,
                 on_change=LoginState.set_username, auto_complete="username", width="100%", id="username"),
        rx.input(placeholder="password", name="password", type="password", value=LoginState.password,
                 on_change=LoginState.set_password, auto_complete="current-password", width="100%",
                 id="password"),
        rx.cond(LoginState.error != "", rx.callout(LoginState.error, icon="triangle-alert", color_scheme="red",
                                                   size="1", width="100%", id="login-error")),
        rx.button("Sign in", type="submit", width="100%", loading=LoginState.submitting, id="sign-in"),
        rx.hstack(rx.spacer(), rx.color_mode.button(size="1", variant="ghost"), width="100%"),
        spacing="3", width="320px", id="main-content"), on_submit=LoginState.login), size="3"),
        min_height="100vh", background="var(--gray-2)")
