"""Data access for users, tokens and idempotency records. Callers own the session and commit."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.errors import ConflictError, NotFoundError
from control_plane.store.auth_models import ApiToken, IdempotencyRecord, User, as_utc, utcnow

# --- users -------------------------------------------------------------------------------------


class UserRepo:
    """Users by name; changes use the ``version`` column so concurrent writers cannot overwrite."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, name: str) -> User | None:
        return self.s.scalar(select(User).where(User.name == name))

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise NotFoundError(f"unknown user {name!r}", details={"user": name})
        return user

    def by_id(self, user_id: int) -> User | None:
        return self.s.get(User, user_id)

    def create(self, name: str, password_hash: str, role: str) -> User:
        if self.get(name) is not None:
            raise ConflictError(f"user {name!r} already exists", details={"user": name})
        now = utcnow()
        user = User(name=name, password_hash=password_hash, role=role, disabled=False, version=1,
                    created_at=now, updated_at=now)
        self.s.add(user)
        try:
            self.s.flush()
        except IntegrityError:
            self.s.rollback()
            raise ConflictError(f"user {name!r} already exists", details={"user": name}) from None
        return user

    def list(self, after: str | None, limit: int) -> list[User]:
        q = select(User).order_by(User.name).limit(limit)
        if after is not None:
            q = q.where(User.name > after)
        return list(self.s.scalars(q))

    def any_admin(self) -> bool:
        return bool(self.s.scalar(select(func.count()).select_from(User)
                                  .where(User.role == "admin", User.disabled.is_(False))))

    def update(self, name: str, expected_version: int, **changes: object) -> User:
        """Apply ``changes`` only if the row is still at ``expected_version``; ConflictError otherwise."""
        values = dict(changes, version=expected_version + 1, updated_at=utcnow())
        result = self.s.execute(update(User).where(User.name == name, User.version == expected_version)
                                .values(**values).execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"user {name!r} was changed by someone else; read it again and retry",
                                details={"user": name})
        user = self.require(name)
        self.s.refresh(user)
        return user


# --- tokens ------------------------------------------------------------------------------------


class TokenState(enum.Enum):
    """Why a presented token is (not) usable."""

    VALID = "valid"
    UNKNOWN = "unknown"  # no such token id, or the secret does not match
    EXPIRED = "expired"
    REVOKED = "revoked"
    USER_DISABLED = "user_disabled"


@dataclass(frozen=True)
class TokenView:
    """A token as the API shows it (never the secret or its hash)."""

    id: str
    kind: str
    name: str
    owner: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenView:
        return cls(t.id, t.kind, t.name, t.owner, t.role, as_utc(t.created_at),  # type: ignore[arg-type]
                   as_utc(t.expires_at), as_utc(t.revoked_at), as_utc(t.last_used_at))


class TokenRepo:
    """API and session tokens."""

    # Refresh last_used_at at most this often, so reads do not turn into writes.
    TOUCH_EVERY = timedelta(minutes=1)

    def __init__(self, session: Session) -> None:
        self.s = session

    def create(self, *, token_id: str, secret_hash: str, kind: str, name: str, owner: str, role: str,
               expires_at: datetime | None, user_id: int | None = None) -> ApiToken:
        token = ApiToken(id=token_id, kind=kind, name=name, owner=owner, role=role, user_id=user_id,
                         secret_hash=secret_hash, created_at=utcnow(), expires_at=expires_at)
        self.s.add(token)
        self.s.flush()
        return token

    def get(self, token_id: str) -> ApiToken | None:
        return self.s.get(ApiToken, token_id)

    def list(self, *, kind: str | None, include_revoked: bool, after: str | None, limit: int) -> list[ApiToken]:
        q = select(ApiToken).order_by(ApiToken.id).limit(limit)
        if kind is not None:
            q = q.where(ApiToken.kind == kind)
        if not include_revoked:
            q = q.where(ApiToken.revoked_at.is_(None))
        if after is not None:
            q = q.where(ApiToken.id > after)
        return list(self.s.scalars(q))

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke once; a second revoke is a ConflictError (so two racing revokes show one winner)."""
        result = self.s.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
        token = self.get(token_id)
        if token is None:
            raise NotFoundError(f"unknown token {token_id!r}", details={"token_id": token_id})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"token {token_id!r} is already revoked", details={"token_id": token_id})
        self.s.refresh(token)
        return token

    def revoke_sessions_of(self, user_id: int) -> None:
        self.s.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == "session",
                                              ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))

    def check(self, token: ApiToken | None, secret_ok: bool, now: datetime) -> TokenState:
        """The state of a looked-up token whose secret was (not) verified."""
        if token is None or not secret_ok:
            return TokenState.UNKNOWN
        if token.revoked_at is not None:
            return TokenState.REVOKED
        expires = as_utc(token.expires_at)
        if expires is not None and expires <= now:
            return TokenState.EXPIRED
        return TokenState.VALID

    def touch(self, token: ApiToken, now: datetime) -> None:
        last = as_utc(token.last_used_at)
        if last is None or now - last >= self.TOUCH_EVERY:
            self.s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))


# --- idempotency -------------------------------------------------------------------------------


class Reservation(enum.Enum):
    NEW = "new"  # go ahead; finish() or release() afterwards
    REPLAY = "replay"  # the stored response is returned
    MISMATCH = "mismatch"  # same key, different request
    IN_PROGRESS = "in_progress"  # same key, first request still running


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str
    headers: dict[str, str]


class IdempotencyRepo:
    """Key + identity + route → the stored response of the first request that used them."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def reserve(self, key: str, identity: str, route: str, request_hash: str,
                ttl: timedelta) -> tuple[Reservation, StoredResponse | None]:
        """Claim the key (commits), or say why not. Expired records are forgotten first."""
        now = utcnow()
        # Forget every expired record (indexed on created_at), so the table stays small by itself.
        self.s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - ttl)
                       .execution_options(synchronize_session=False))
        self.s.add(IdempotencyRecord(key=key, identity=identity, route=route, request_hash=request_hash,
                                     created_at=now))
        try:
            self.s.commit()
            return Reservation.NEW, None
        except IntegrityError:
            self.s.rollback()
        rec = self.s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key,
                                                            IdempotencyRecord.identity == identity,
                                                            IdempotencyRecord.route == route))
        if rec is None:  # released between our insert and our read: let the caller retry
            return Reservation.IN_PROGRESS, None
        if rec.request_hash != request_hash:
            return Reservation.MISMATCH, None
        if rec.status_code is None:
            return Reservation.IN_PROGRESS, None
        return Reservation.REPLAY, StoredResponse(rec.status_code, rec.response_body or "",
                                                  json.loads(rec.response_headers or "{}"))

    def finish(self, key: str, identity: str, route: str, response: StoredResponse) -> None:
        self.s.execute(update(IdempotencyRecord)
                       .where(IdempotencyRecord.key == key, IdempotencyRecord.identity == identity,
                              IdempotencyRecord.route == route)
                       .values(status_code=response.status_code, response_body=response.body,
                               response_headers=json.dumps(response.headers))
                       .execution_options(synchronize_session=False))
        self.s.commit()

    def release(self, key: str, identity: str, route: str) -> None:
        self.s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == key,
                                                       IdempotencyRecord.identity == identity,
                                                       IdempotencyRecord.route == route)
                       .execution_options(synchronize_session=False))
        self.s.commit()
