"""Data access for rollouts (the only place that queries their tables).

Every transition is one database transaction: the state row is updated only if its ``version``
is still the one the caller read (optimistic locking), and the history entry is written with it.
Two controls racing on the same rollout therefore give one transition; the loser gets a
ConflictError and may re-read and retry.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.domain.rollout import Phase, Plan, RolloutState, Wait, parse_spec
from control_plane.errors import ConflictError, NotFoundError
from control_plane.store.rollout_models import RolloutEventRow, RolloutRow


@dataclass(frozen=True)
class StoredRollout:
    """A rollout as stored: its plan, its state and the lock version that state was read at."""

    id: str
    plan: Plan
    state: RolloutState
    version: int
    created_by: str
    created_at: float
    last_evidence: dict | None

    def to_json(self) -> dict[str, Any]:
        s = self.state
        return {"id": self.id, "service": self.plan.spec.service, "version": self.plan.canary,
                "stable_version": self.plan.stable_version, "phase": s.phase.value,
                "step": {"index": s.step_index, "of": len(self.plan.spec.steps), "started_at": s.step_started_at},
                "waiting_for": s.waiting.value, "canary_weight": s.canary_weight, "attempt": s.attempt,
                "last_verdict": s.last_verdict, "reason": s.reason, "created_by": self.created_by,
                "created_at": self.created_at, "updated_at": s.updated_at, "resource_version": self.version,
                "spec": self.plan.spec.to_dict(), "evidence": self.last_evidence}


def _state(row: RolloutRow) -> RolloutState:
    return RolloutState(phase=Phase(row.phase), step_index=row.step_index, step_started_at=row.step_started_at,
                        waiting=Wait(row.waiting), canary_weight=row.canary_weight, paused_at=row.paused_at,
                        hook_retry_at=row.hook_retry_at, attempt=row.attempt, last_verdict=row.last_verdict,
                        reason=row.reason, updated_at=row.updated_at)


def _stored(row: RolloutRow) -> StoredRollout:
    plan = Plan(parse_spec(json.loads(row.spec)), row.stable_version, row.stable_replicas)
    return StoredRollout(row.id, plan, _state(row), row.version, row.created_by, row.created_at,
                         json.loads(row.last_evidence) if row.last_evidence else None)


class RolloutRepo:
    """Rollouts and their history in the control store."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def create(self, plan: Plan, state: RolloutState, reason: str, actor: str, at: float) -> StoredRollout:
        """Store a new rollout; ConflictError naming the active one if the service already has one."""
        rid = "ro_" + secrets.token_hex(6)
        with self.sessions() as session:
            active = self._active_for(session, plan.spec.service)
            if active is not None:
                raise ConflictError(f"{plan.spec.service} already has an active rollout {active.id} "
                                    f"({active.phase}); abort it or wait for it to end",
                                    details={"rollout_id": active.id, "service": plan.spec.service})
            row = RolloutRow(id=rid, service=plan.spec.service, canary_version=plan.canary,
                             stable_version=plan.stable_version, stable_replicas=plan.stable_replicas,
                             spec=json.dumps(plan.spec.to_dict()), active_service=plan.spec.service,
                             created_by=actor, created_at=at, version=1)
            self._apply(row, state)
            session.add(row)
            try:
                session.flush()  # the row first: the history entry references it
            except IntegrityError as exc:
                session.rollback()
                raise ConflictError(f"{plan.spec.service} already has an active rollout",
                                    details={"service": plan.spec.service}) from exc
            session.add(self._event(rid, 1, at, "transition", state, reason, {"actor": actor}))
            try:
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                active = self._active_for(session, plan.spec.service)
                raise ConflictError(f"{plan.spec.service} already has an active rollout"
                                    + (f" {active.id}" if active else ""),
                                    details={"rollout_id": active.id if active else None}) from exc
            return _stored(row)

    def get(self, rid: str) -> StoredRollout:
        with self.sessions() as session:
            row = session.get(RolloutRow, rid)
            if row is None:
                raise NotFoundError(f"unknown rollout {rid!r}", details={"rollout_id": rid})
            return _stored(row)

    def list(self, service: str | None = None, limit: int = 50) -> list[StoredRollout]:
        with self.sessions() as session:
            q = select(RolloutRow).order_by(RolloutRow.created_at.desc()).limit(limit)
            if service:
                q = q.where(RolloutRow.service == service)
            return [_stored(r) for r in session.scalars(q)]

    def active(self) -> list[StoredRollout]:
        with self.sessions() as session:
            return [_stored(r) for r in session.scalars(select(RolloutRow).where(RolloutRow.active_service.is_not(None)))]

    def active_for(self, service: str) -> StoredRollout | None:
        with self.sessions() as session:
            row = self._active_for(session, service)
            return _stored(row) if row else None

    def save(self, rid: str, expected_version: int, state: RolloutState, reason: str, *, kind: str = "transition",
             data: dict | None = None, evidence: dict | None = None) -> int:
        """Persist a transition if nobody else did first; returns the new lock version."""
        with self.sessions() as session:
            values: dict[str, Any] = self._values(state)
            values["version"] = expected_version + 1
            values["active_service"] = None if state.phase.terminal else func.coalesce(
                RolloutRow.active_service, RolloutRow.service)
            if evidence is not None:
                values["last_evidence"] = json.dumps(evidence)
            try:
                result = session.execute(update(RolloutRow).where(RolloutRow.id == rid,
                                                                  RolloutRow.version == expected_version)
                                         .values(**values))
            except IntegrityError as exc:  # a retry would make a second active rollout of the service
                session.rollback()
                other = self._active_for(session, self._service_of(session, rid))
                raise ConflictError(f"the service has another active rollout {other.id if other else ''}".strip(),
                                    details={"rollout_id": other.id if other else None}) from exc
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                if session.get(RolloutRow, rid) is None:
                    raise NotFoundError(f"unknown rollout {rid!r}", details={"rollout_id": rid})
                raise ConflictError(f"rollout {rid} changed meanwhile; re-read it and try again",
                                    details={"rollout_id": rid, "expected_version": expected_version})
            seq = self._next_seq(session, rid)
            session.add(self._event(rid, seq, state.updated_at, kind, state, reason, data))
            try:
                session.commit()
            except IntegrityError as exc:  # a retry turned an ended rollout active while another started
                session.rollback()
                raise ConflictError(f"{reason}: the service has another active rollout") from exc
            return expected_version + 1

    def note(self, rid: str, at: float, kind: str, state: RolloutState, reason: str, data: dict | None = None,
             evidence: dict | None = None) -> None:
        """Add a history entry that is not a transition (a verdict, an action's outcome)."""
        with self.sessions() as session:
            session.add(self._event(rid, self._next_seq(session, rid), at, kind, state, reason, data))
            if evidence is not None:
                session.execute(update(RolloutRow).where(RolloutRow.id == rid)
                                .values(last_evidence=json.dumps(evidence)))
            session.commit()

    def note_evidence(self, rid: str, evidence: dict) -> None:
        """Refresh the newest verdict's evidence shown with the rollout (not a history entry)."""
        with self.sessions() as session:
            session.execute(update(RolloutRow).where(RolloutRow.id == rid).values(last_evidence=json.dumps(evidence)))
            session.commit()

    def events(self, rid: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.sessions() as session:
            if session.get(RolloutRow, rid) is None:
                raise NotFoundError(f"unknown rollout {rid!r}", details={"rollout_id": rid})
            rows = session.scalars(select(RolloutEventRow).where(RolloutEventRow.rollout_id == rid,
                                                                 RolloutEventRow.seq > after)
                                   .order_by(RolloutEventRow.seq).limit(limit))
            return [{"seq": r.seq, "at": r.at, "kind": r.kind, "phase": r.phase, "step_index": r.step_index,
                     "reason": r.reason, "data": json.loads(r.data) if r.data else None} for r in rows]

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _active_for(session: Session, service: str) -> RolloutRow | None:
        return session.scalars(select(RolloutRow).where(RolloutRow.active_service == service)).first()

    @staticmethod
    def _service_of(session: Session, rid: str) -> str:
        return str(session.scalar(select(RolloutRow.service).where(RolloutRow.id == rid)) or "")

    @staticmethod
    def _values(state: RolloutState) -> dict[str, Any]:
        return {"phase": state.phase.value, "step_index": state.step_index, "step_started_at": state.step_started_at,
                "waiting": state.waiting.value, "canary_weight": state.canary_weight, "paused_at": state.paused_at,
                "hook_retry_at": state.hook_retry_at, "attempt": state.attempt, "last_verdict": state.last_verdict,
                "reason": state.reason, "updated_at": state.updated_at}

    def _apply(self, row: RolloutRow, state: RolloutState) -> None:
        for k, v in self._values(state).items():
            setattr(row, k, v)

    @staticmethod
    def _next_seq(session: Session, rid: str) -> int:
        top = session.scalar(select(func.max(RolloutEventRow.seq)).where(RolloutEventRow.rollout_id == rid))
        return int(top or 0) + 1

    @staticmethod
    def _event(rid: str, seq: int, at: float, kind: str, state: RolloutState, reason: str,
               data: dict | None) -> RolloutEventRow:
        return RolloutEventRow(rollout_id=rid, seq=seq, at=at, kind=kind, phase=state.phase.value,
                               step_index=state.step_index, reason=reason,
                               data=json.dumps(data, default=str) if data else None)
