"""Audit trail and API token rows (admin pages)."""

from __future__ import annotations

import json
from typing import Any

from dashboards.logic.formatting import DASH, fmt_clock, parse_time, pick
from dashboards.logic.roles import Role


def audit_rows(payload: Any) -> list[dict[str, str]]:
    """Audit entries, newest first."""
    items = pick(payload, "items", default=payload if isinstance(payload, list) else [])
    rows = []
    for e in items or []:
        if not isinstance(e, dict):
            continue
        at = parse_time(pick(e, "at", "time", "timestamp", "created_at"))
        details = pick(e, "detail", "details", "reason", "payload", default="")
        rows.append({"at": fmt_clock(at, with_date=True), "epoch": at or 0.0,
                     "actor": str(pick(e, "actor", "user", "username", default=DASH)),
                     "action": str(pick(e, "action", "method", default=DASH)),
                     "target": str(pick(e, "target", "path", "resource", default=DASH)),
                     "outcome": str(pick(e, "outcome", "result", default="")) + (f" {e['status_code']}" if "status_code" in e else ""),
                     "details": json.dumps(details, sort_keys=True)[:300] if isinstance(details, (dict, list))
                     else str(details)})
    rows.sort(key=lambda r: r["epoch"], reverse=True)
    return rows


def token_rows(payload: Any) -> list[dict[str, str]]:
    """API tokens (never their secret, which the API shows only once at creation)."""
    items = pick(payload, "items", "tokens", default=payload if isinstance(payload, list) else [])
    rows = []
    for t in items or []:
        if not isinstance(t, dict):
            continue
        rows.append({"id": str(pick(t, "id", default="")),
                     "name": str(pick(t, "name", "description", default=DASH)),
                     "role": str(pick(t, "role", default=DASH)),
                     "owner": str(pick(t, "user", "owner", "username", default=DASH)),
                     "created": fmt_clock(pick(t, "created_at"), with_date=True),
                     "expires": fmt_clock(pick(t, "expires_at"), with_date=True),
                     "last_used": fmt_clock(pick(t, "last_used_at"), with_date=True)})
    return rows


def token_request(name: str, role: str) -> tuple[dict[str, str], str]:
    """Validate the create-token form; returns (body, error)."""
    if not name.strip():
        return {}, "give the token a name (what or who uses it)"
    if role not in {r.value for r in Role}:
        return {}, f"role must be one of {', '.join(r.value for r in Role)}"
    return {"name": name.strip(), "role": role}, ""
