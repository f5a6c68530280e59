"""API tokens (admin only): create (secret shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from control_plane.api.conventions import page, str_cursor
from control_plane.api.deps import CurrentIdentity, Role, SessionDep, require_role
from control_plane.api.errors import error_responses
from control_plane.api.security import mint_token
from control_plane.store.auth_models import utcnow
from control_plane.store.auth_repo import TokenRepo, TokenView

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[require_role(Role.ADMIN)])

TEN_YEARS_S = 10 * 366 * 86400
RoleName = Literal["viewer", "deployer", "operator", "admin"]
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="the id shown by GET /tokens")]


class TokenCreate(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    role: RoleName
    expires_in_s: int | None = Field(default=None, ge=60, le=TEN_YEARS_S,
                                     description="lifetime in seconds; omit for a token that never expires")


class TokenOut(BaseModel):
    id: str
    kind: Literal["api", "session"]
    name: str
    owner: str
    role: RoleName
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, v: TokenView) -> TokenOut:
        return cls(**v.__dict__)


class TokenCreated(TokenOut):
    token: str = Field(description="the secret; shown this once, store it now")


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None


@router.get("", response_model=TokenPage)
def list_tokens(session: SessionDep, kind: Literal["api", "session"] | None = None,
                include_revoked: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                cursor: str | None = None) -> TokenPage:
    rows = TokenRepo(session).list(kind=kind, include_revoked=include_revoked, after=str_cursor(cursor),
                                   limit=limit + 1)
    items, nxt = page(rows, limit, key=lambda t: t.id)
    return TokenPage(items=[TokenOut.of(TokenView.of(t)) for t in items], next_cursor=nxt)


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, request: Request, response: Response, ident: CurrentIdentity,
                 session: SessionDep) -> TokenCreated:
    new = mint_token()
    expires = utcnow() + timedelta(seconds=body.expires_in_s) if body.expires_in_s else None
    token = TokenRepo(session).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="api",
                                      name=body.name, owner=ident.owner, role=body.role, expires_at=expires)
    session.commit()
    request.state.audit_target = f"token:{token.id}"
    response.headers["Location"] = f"/api/v1/tokens/{token.id}"
    return TokenCreated(**TokenView.of(token).__dict__, token=new.secret)


@router.delete("/{token_id}", response_model=TokenOut, responses=error_responses(404, 409))
def revoke_token(token_id: TokenId, request: Request, session: SessionDep) -> TokenOut:
    """Revoke a token (API or session); it stops working at once. Revoking twice is a 409."""
    request.state.audit_target = f"token:{token_id}"
    token = TokenRepo(session).revoke(token_id)
    session.commit()
    return TokenOut.of(TokenView.of(token))
