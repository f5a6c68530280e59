"""/audit and /tokens (admin)."""

import reflex as rx

from dashboards.components import admin
from dashboards.components.layout import page
from dashboards.state.admin import AuditState, TokensState


def audit() -> rx.Component:
    return page("Audit trail", admin.audit_filters(), admin.audit_table(), on_tick=AuditState.tick)


def tokens() -> rx.Component:
    return page("API tokens", admin.token_form(), admin.token_table(), on_tick=TokensState.tick)
