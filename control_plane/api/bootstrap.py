"""First start: make sure an admin exists and the local CLI has a token.

The daemon calls :func:`bootstrap` once at start, after migrating the store.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from control_plane.api.context import AppContext
from control_plane.api.errors import Unauthorized
from control_plane.api.identity import RefusedCaller, authenticate
from control_plane.api.roles import Role
from control_plane.api.security import hash_password, mint_token
from control_plane.store.auth_repo import TokenRepo, UserRepo

ADMIN_NAME = "admin"
CLI_TOKEN_FILE = "cli-token"
CLI_TOKEN_NAME = "local-cli"


@dataclass(frozen=True)
class BootstrapResult:
    admin_created: bool
    password_generated: bool
    cli_token_path: Path
    cli_token_written: bool


def bootstrap(ctx: AppContext, *, emit: Callable[[str], None] = print) -> BootstrapResult:
    """Create the first admin (password from settings, or random and shown once through ``emit``)
    and write an admin token for the local CLI to ``<state_dir>/cli-token`` (mode 0600)."""
    admin_created = generated = False
    with ctx.sessions() as session:
        users = UserRepo(session)
        if not users.any_admin():
            password = ctx.settings.admin_password
            if not password:
                password, generated = secrets.token_urlsafe(18), True
            name = ADMIN_NAME if users.get(ADMIN_NAME) is None else f"{ADMIN_NAME}-{secrets.token_hex(3)}"
            users.create(name, hash_password(password), Role.ADMIN.label)
            session.commit()
            admin_created = True
            if generated:
                emit(f"fleetdeck: created admin user {name!r} with password {password} "
                     "(shown once; set FLEETDECK_ADMIN_PASSWORD to choose it)")
            else:
                emit(f"fleetdeck: created admin user {name!r} with the password from FLEETDECK_ADMIN_PASSWORD")
    path = ctx.settings.state_dir / CLI_TOKEN_FILE
    written = False
    if not _still_valid(ctx, path):
        _write_cli_token(ctx, path)
        written = True
    return BootstrapResult(admin_created, generated, path, written)


def _still_valid(ctx: AppContext, path: Path) -> bool:
    try:
        token = path.read_text().strip()
    except OSError:
        return False
    with ctx.sessions() as session:
        try:
            return authenticate(session, f"Bearer {token}", RefusedCaller()).role is Role.ADMIN
        except Unauthorized:
            return False


def _write_cli_token(ctx: AppContext, path: Path) -> None:
    with ctx.sessions() as session:
        users = UserRepo(session)
        owner = ADMIN_NAME if users.get(ADMIN_NAME) else "system"
        new = mint_token()
        TokenRepo(session).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="api",
                                  name=CLI_TOKEN_NAME, owner=owner, role=Role.ADMIN.label, expires_at=None)
        session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (new.secret + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
