"""Who is calling: turn an ``Authorization`` header into an :class:`Identity`, or say why not."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from control_plane.api.errors import Unauthorized
from control_plane.api.roles import Role
from control_plane.api.security import parse_token, secret_matches
from control_plane.store.auth_models import as_utc, utcnow
from control_plane.store.auth_repo import TokenRepo, TokenState, UserRepo


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: a logged-in user (``session``) or an API token (``token``)."""

    name: str  # user name for sessions, token name for API tokens
    kind: str  # session | token
    role: Role
    token_id: str
    owner: str  # the user behind it

    @property
    def rate_key(self) -> str:
        return f"{self.kind}:{self.owner if self.kind == 'session' else self.token_id}"


@dataclass
class RefusedCaller:
    """What we learned about a caller we turned away (for the audit record)."""

    actor: str = "anonymous"
    actor_kind: str = "anonymous"
    token_id: str | None = None


def authenticate(session: Session, authorization: str | None, refused: RefusedCaller) -> Identity:
    """The identity behind ``authorization``; Unauthorized with a clear message otherwise.

    ``refused`` is filled in as soon as something is known, so a refusal is audited with a name.
    """
    if not authorization:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("the Authorization header must read 'Bearer <token>'")
    parsed = parse_token(credential.strip())
    if parsed is None:
        raise Unauthorized("malformed token: expected fd_<16 hex>_<43 characters> as printed at creation")
    token_id, secret_part = parsed
    refused.token_id = token_id
    tokens = TokenRepo(session)
    token = tokens.get(token_id)
    ok = secret_matches(secret_part, token.secret_hash if token else "0" * 64)
    now = utcnow()
    state = tokens.check(token, ok, now)
    if state is TokenState.UNKNOWN or token is None:
        raise Unauthorized("unknown token or wrong secret")
    refused.actor, refused.actor_kind = (token.owner, "session") if token.kind == "session" else (token.name, "token")
    if state is TokenState.REVOKED:
        raise Unauthorized(f"{_what(token.kind, token.name, token.id)} was revoked at "
                           f"{as_utc(token.revoked_at):%Y-%m-%d %H:%M:%S}Z")
    if state is TokenState.EXPIRED:
        raise Unauthorized(f"{_what(token.kind, token.name, token.id)} expired at "
                           f"{as_utc(token.expires_at):%Y-%m-%d %H:%M:%S}Z")
    role_name = token.role
    if token.kind == "session":
        user = UserRepo(session).by_id(token.user_id) if token.user_id is not None else None
        if user is None or user.disabled:
            raise Unauthorized(f"user {token.owner!r} is disabled or deleted; log in again")
        role_name = user.role  # a session follows its user's current role
    tokens.touch(token, now)
    session.commit()
    ident_name = token.owner if token.kind == "session" else token.name
    return Identity(ident_name, token.kind if token.kind == "session" else "token", Role.parse(role_name),
                    token.id, token.owner)


def _what(kind: str, name: str, token_id: str) -> str:
    return f"session of {name!r}" if kind == "session" else f"token {name!r} (id {token_id})"
