"""Tables of the API front door: users, tokens (API and session), audit log, idempotency records.

Rate-limit state is not persisted: it lives in memory per control-plane process (a restart
forgives everyone, which is acceptable for a single control plane).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.db import Base

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every one we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class User(Base):
    """A person who logs in to the dashboard or the CLI."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # Argon2id, never the password
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock, exposed as ETag
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token: ``api`` for CI and scripts, ``session`` for a dashboard/CLI login."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # api | session
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))  # user name of whoever created it
    role: Mapped[str] = mapped_column(String(16))  # sessions take the user's current role instead
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the secret part
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_api_tokens_kind_owner", "kind", "owner"),)


class AuditRecord(Base):
    """One mutation or refusal: who, what, when, from where, how it ended and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)  # user name, token name or "anonymous"
    actor_kind: Mapped[str] = mapped_column(String(16))  # user | session | token | anonymous
    token_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(255))  # route template, e.g. /api/v1/tokens/{token_id}
    action: Mapped[str] = mapped_column(String(270), index=True)  # "<METHOD> <route>"
    path: Mapped[str] = mapped_column(String(1024))
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)  # client address
    outcome: Mapped[str] = mapped_column(String(16), index=True)  # success|denied|rejected|error|replayed
    status_code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # why a refusal happened
    request_id: Mapped[str] = mapped_column(String(32))


class IdempotencyRecord(Base):
    """The stored answer to a POST sent with an ``Idempotency-Key`` (null status = still running)."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str] = mapped_column(String(64))  # SHA-256 of the credentials presented
    route: Mapped[str] = mapped_column(String(300))  # "<METHOD> <path>"
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_headers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("key", "identity", "route", name="uq_idempotency_key_identity_route"),)
