"""Tables of rollouts: one row per rollout (its current state, optimistic lock) and its history."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.db import Base

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class RolloutRow(Base):
    """A rollout and the persisted state of its state machine (times are unix seconds)."""

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    canary_version: Mapped[str] = mapped_column(String(64))
    stable_version: Mapped[str] = mapped_column(String(64))
    stable_replicas: Mapped[int] = mapped_column(Integer)
    spec: Mapped[str] = mapped_column(Text)  # the validated spec as JSON
    # The service's name while the rollout is active, NULL once it ends: a unique column makes
    # "one active rollout per service" a database guarantee (NULLs never collide).
    active_service: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    waiting: Mapped[str] = mapped_column(String(24))
    canary_weight: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    hook_retry_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    last_verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_evidence: Mapped[str | None] = mapped_column(Text, nullable=True)  # newest verdict, JSON
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock: every transition bumps it


class RolloutEventRow(Base):
    """One entry of a rollout's history: a transition (with its reason and actions) or a verdict."""

    __tablename__ = "rollout_events"
    __table_args__ = (Index("ix_rollout_events_rollout_id_seq", "rollout_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per rollout (the SSE event id)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))  # transition | verdict | action
    phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: evidence, actions, actor
