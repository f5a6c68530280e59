"""The audit trail, read-only (admin): filters and cursor pagination, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from control_plane.api.conventions import int_cursor, page
from control_plane.api.deps import Role, SessionDep, require_role
from control_plane.errors import ValidationError
from control_plane.store.audit_repo import AuditFilter, AuditRepo
from control_plane.store.auth_models import AuditRecord, as_utc

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[require_role(Role.ADMIN)])

Outcome = Literal["success", "denied", "rejected", "error", "replayed"]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    token_id: str | None
    method: str
    route: str
    action: str
    path: str
    target: str | None
    source: str | None
    outcome: Outcome
    status_code: int
    reason: str | None
    detail: str | None
    request_id: str

    @classmethod
    def of(cls, r: AuditRecord) -> AuditOut:
        return cls(id=r.id, at=as_utc(r.at), actor=r.actor, actor_kind=r.actor_kind,  # type: ignore[arg-type]
                   token_id=r.token_id, method=r.method, route=r.route, action=r.action, path=r.path,
                   target=r.target, source=r.source, outcome=r.outcome, status_code=r.status_code,  # type: ignore[arg-type]
                   reason=r.reason, detail=r.detail, request_id=r.request_id)


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{field} is out of range", field=field) from None


@router.get("", response_model=AuditPage)
def list_audit(session: SessionDep,
               actor: Annotated[str | None, Query(max_length=128, description="exact user or token name")] = None,
               action: Annotated[str | None, Query(max_length=270,
                                                   description="part of '<METHOD> <route>', e.g. 'abort'")] = None,
               outcome: Outcome | None = None,
               target: Annotated[str | None, Query(max_length=255)] = None,
               since: Annotated[datetime | None, Query(description="RFC 3339, inclusive")] = None,
               until: Annotated[datetime | None, Query(description="RFC 3339, exclusive")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               cursor: str | None = None) -> AuditPage:
    f = AuditFilter(actor=actor, action=action, outcome=outcome, target=target,
                    since=_utc(since, "since"), until=_utc(until, "until"))
    rows = AuditRepo(session).query(f, before_id=int_cursor(cursor), limit=limit + 1)
    items, nxt = page(rows, limit, key=lambda r: r.id)
    return AuditPage(items=[AuditOut.of(r) for r in items], next_cursor=nxt)
