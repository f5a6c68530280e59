"""The audit log: append and read. Nothing here updates or deletes a record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.store.auth_models import AuditRecord, utcnow


@dataclass(frozen=True)
class AuditEntry:
    """What the front door knows about one mutation or refusal."""

    actor: str
    actor_kind: str
    method: str
    route: str
    path: str
    outcome: str
    status_code: int
    request_id: str
    token_id: str | None = None
    target: str | None = None
    source: str | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # substring of "<METHOD> <route>"
    outcome: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def append(self, e: AuditEntry) -> AuditRecord:
        rec = AuditRecord(at=utcnow(), actor=e.actor[:128], actor_kind=e.actor_kind, token_id=e.token_id,
                          method=e.method, route=e.route[:255], action=f"{e.method} {e.route}"[:270],
                          path=e.path[:1024], target=e.target[:255] if e.target else None,
                          source=e.source[:64] if e.source else None, outcome=e.outcome,
                          status_code=e.status_code, reason=e.reason, detail=e.detail,
                          request_id=e.request_id)
        self.s.add(rec)
        self.s.flush()
        return rec

    def query(self, f: AuditFilter, *, before_id: int | None, limit: int) -> list[AuditRecord]:
        """Newest first; ``before_id`` continues a previous page."""
        q = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(AuditRecord.id < before_id)
        if f.actor:
            q = q.where(AuditRecord.actor == f.actor)
        if f.action:
            q = q.where(AuditRecord.action.contains(f.action, autoescape=True))
        if f.outcome:
            q = q.where(AuditRecord.outcome == f.outcome)
        if f.target:
            q = q.where(AuditRecord.target == f.target)
        if f.since:
            q = q.where(AuditRecord.at >= f.since)
        if f.until:
            q = q.where(AuditRecord.at < f.until)
        return list(self.s.scalars(q))
