"""Users (admin only): list, create, read, change role/password/disabled with If-Match."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from control_plane.api.conventions import check_if_match, etag_for, page, str_cursor
from control_plane.api.deps import Role, SessionDep, require_role
from control_plane.api.errors import error_responses
from control_plane.api.security import hash_password
from control_plane.errors import ConflictError, ValidationError
from control_plane.store.auth_models import User, as_utc
from control_plane.store.auth_repo import TokenRepo, UserRepo

router = APIRouter(prefix="/users", tags=["users"], dependencies=[require_role(Role.ADMIN)])

NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,63}$"
RoleName = Literal["viewer", "deployer", "operator", "admin"]


class UserCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="lower-case login name")
    password: str = Field(min_length=8, max_length=256, description="never stored, logged or returned")
    role: RoleName


class UserUpdate(BaseModel):
    role: RoleName | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    disabled: bool | None = None


class UserOut(BaseModel):
    name: str
    role: RoleName
    disabled: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(name=u.name, role=u.role, disabled=u.disabled, version=u.version,  # type: ignore[arg-type]
                   created_at=as_utc(u.created_at), updated_at=as_utc(u.updated_at))  # type: ignore[arg-type]


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


@router.get("", response_model=UserPage)
def list_users(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
               cursor: str | None = None) -> UserPage:
    rows = UserRepo(session).list(str_cursor(cursor), limit + 1)
    items, nxt = page(rows, limit, key=lambda u: u.name)
    return UserPage(items=[UserOut.of(u) for u in items], next_cursor=nxt)


@router.post("", status_code=201, response_model=UserOut, responses=error_responses(409))
def create_user(body: UserCreate, request: Request, response: Response, session: SessionDep) -> UserOut:
    request.state.audit_target = f"user:{body.name}"
    user = UserRepo(session).create(body.name, hash_password(body.password), body.role)
    session.commit()
    response.headers["ETag"] = etag_for(user.version)
    response.headers["Location"] = f"/api/v1/users/{user.name}"
    return UserOut.of(user)


@router.get("/{name}", response_model=UserOut, responses=error_responses(404))
def get_user(name: str, response: Response, session: SessionDep) -> UserOut:
    user = UserRepo(session).require(name)
    response.headers["ETag"] = etag_for(user.version)
    return UserOut.of(user)


@router.patch("/{name}", response_model=UserOut, responses=error_responses(404, 409, 412, 428))
def update_user(name: str, body: UserUpdate, request: Request, response: Response, session: SessionDep,
                if_match: Annotated[str | None, Header(description="ETag from GET /users/{name}")] = None,
                ) -> UserOut:
    """Change a user; needs If-Match so two admins editing at once cannot overwrite each other."""
    request.state.audit_target = f"user:{name}"
    users = UserRepo(session)
    user = users.require(name)
    check_if_match(if_match, etag_for(user.version), required=True)
    changes: dict[str, object] = {k: v for k, v in (("role", body.role), ("disabled", body.disabled))
                                  if v is not None}
    if body.password is not None:
        changes["password_hash"] = hash_password(body.password)
    if not changes:
        raise ValidationError("nothing to change: give role, password or disabled", field="body")
    was_admin = user.role == "admin" and not user.disabled
    updated = users.update(name, user.version, **changes)
    if was_admin and not users.any_admin():
        session.rollback()
        raise ConflictError("that change would leave no enabled admin", details={"user": name})
    if updated.disabled or "password_hash" in changes:
        TokenRepo(session).revoke_sessions_of(updated.id)
    session.commit()
    response.headers["ETag"] = etag_for(updated.version)
    return UserOut.of(updated)
