"""Log in (a session token for the dashboard or CLI), see who you are, log out."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from control_plane.api.conventions import RateLimiter
from control_plane.api.deps import ContextDep, CurrentIdentity, SessionDep
from control_plane.api.errors import RateLimited, Unauthorized, error_responses
from control_plane.api.frontdoor import limits_of
from control_plane.api.security import mint_token, verify_password
from control_plane.errors import ConflictError
from control_plane.store.auth_models import utcnow
from control_plane.store.auth_repo import TokenRepo, UserRepo

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserBrief(BaseModel):
    name: str
    role: str


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserBrief


class MeOut(BaseModel):
    name: str
    kind: str
    role: str
    owner: str
    token_id: str


def _login_limiter(request: Request, ctx: ContextDep) -> RateLimiter:
    limiter = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limits = limits_of(ctx)
        limiter = request.app.state.login_limiter = RateLimiter(limits.login_rate, limits.login_burst)
    return limiter  # type: ignore[no-any-return]


@router.post("/login", response_model=LoginOut, responses=error_responses(401, 429))
def login(body: LoginIn, request: Request, ctx: ContextDep, session: SessionDep) -> LoginOut:
    """Exchange a user name and password for a session token (the password is never stored or echoed)."""
    request.state.audit_actor = body.username
    request.state.audit_target = f"user:{body.username}"
    source = request.client.host if request.client else "unknown"
    wait = _login_limiter(request, ctx).acquire(f"login:{source}")
    if wait > 0:
        raise RateLimited(f"too many login attempts from {source}; retry in {wait:.0f}s", retry_after=wait)
    user = UserRepo(session).get(body.username)
    ok = verify_password(body.password, user.password_hash if user else None)
    if user is None or not ok or user.disabled:
        request.state.auth_refusal = "invalid username or password"
        raise Unauthorized("invalid username or password")
    new = mint_token()
    expires = utcnow() + timedelta(seconds=limits_of(ctx).session_ttl_s)
    TokenRepo(session).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="session",
                              name=f"session:{user.name}", owner=user.name, role=user.role,
                              expires_at=expires, user_id=user.id)
    session.commit()
    return LoginOut(token=new.secret, expires_at=expires, user=UserBrief(name=user.name, role=user.role))


@router.get("/me", response_model=MeOut, responses=error_responses(401))
def me(ident: CurrentIdentity) -> MeOut:
    """Who the presented credential belongs to, and its role (any role may ask)."""
    return MeOut(name=ident.name, kind=ident.kind, role=ident.role.label, owner=ident.owner,
                 token_id=ident.token_id)


@router.post("/logout", status_code=204, responses=error_responses(401, 409))
def logout(ident: CurrentIdentity, session: SessionDep) -> Response:
    """End the presented login session. API tokens are revoked with ``DELETE /tokens/{id}`` instead."""
    if ident.kind != "session":
        raise ConflictError("only login sessions log out; revoke an API token with DELETE /api/v1/tokens/{id}",
                            details={"token_id": ident.token_id})
    TokenRepo(session).revoke(ident.token_id)
    session.commit()
    return Response(status_code=204)
