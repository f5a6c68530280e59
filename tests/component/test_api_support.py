"""Shared helpers of the API tests (no tests here): migrated stores, app contexts, role tokens.

Every store is built by the Alembic migrations, never ``create_all``: a temp SQLite file, or a
fresh ``fd_test_<random>`` database on the local PostgreSQL that is dropped afterwards.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from control_plane.api.context import AppContext
from control_plane.api.conventions import ApiLimits
from control_plane.api.roles import Role
from control_plane.api.security import hash_password, mint_token
from control_plane.settings import load_settings
from control_plane.store.auth_repo import TokenRepo, UserRepo
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
GENEROUS = ApiLimits(mutation_rate=1000.0, mutation_burst=10_000, login_rate=1000.0, login_burst=10_000)


@contextmanager
def migrated_store(kind: str, pg_url: str = DEFAULT_PG) -> Iterator[str]:
    """A URL of an empty control store migrated to head; removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fd-api-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'control.db'}"
            upgrade(url)
            yield url
        return
    name = f"fd_test_{secrets.token_hex(6)}"
    admin_url = make_url(pg_url)
    conninfo = f"host={admin_url.host} port={admin_url.port or 5432} user={admin_url.username} " \
               f"dbname={admin_url.database}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Store:
    """An engine on a migrated store plus the context an app is built from."""

    url: str
    engine: Engine
    state_dir: Path
    tokens: dict[Role, str] = field(default_factory=dict)

    def context(self, *, limits: ApiLimits = GENEROUS, host: str = "127.0.0.1", **extras: object) -> AppContext:
        settings = load_settings({}, state_dir=self.state_dir, db_url=self.url, host=host)
        return AppContext(settings=settings, sessions=make_sessionmaker(self.engine),
                          extras={"api_limits": limits, **extras})

    def user(self, role: Role, name: str | None = None, password: str = "correct horse battery") -> str:
        name = name or f"{role.label}-{secrets.token_hex(4)}"
        with make_sessionmaker(self.engine)() as s:
            UserRepo(s).create(name, hash_password(password), role.label)
            s.commit()
        return name

    def token(self, role: Role, *, name: str | None = None, expires_at: object = None) -> tuple[str, str]:
        """(token id, bearer secret) of a fresh API token with ``role``."""
        new = mint_token()
        with make_sessionmaker(self.engine)() as s:
            TokenRepo(s).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="api",
                                name=name or f"{role.label}-tok", owner="tests", role=role.label,
                                expires_at=expires_at)  # type: ignore[arg-type]
            s.commit()
        return new.token_id, new.secret


@contextmanager
def open_store(kind: str, pg_url: str = DEFAULT_PG) -> Iterator[Store]:
    with migrated_store(kind, pg_url) as url, tempfile.TemporaryDirectory(prefix="fd-state-") as state:
        engine = make_engine(url)
        try:
            store = Store(url, engine, Path(state))
            for role in Role:
                store.tokens[role] = store.token(role, name=f"{role.label}-fixture")[1]
            yield store
        finally:
            engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- a real server per test module ---------------------------------------------------------------

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from control_plane.api.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving ``app`` on a free loopback port in a thread; ``stop`` joins it."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"api-{self.port}", daemon=True)

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


@dataclass
class Api:
    """A running API on a migrated store, with one token per role."""

    store: Store
    server: Server
    app: FastAPI

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: Role | None = None, token: str | None = None) -> httpx.Client:
        headers = bearer(token) if token else bearer(self.store.tokens[role]) if role else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30)

    def audit(self, **filters: object) -> list[dict]:
        with self.client(Role.ADMIN) as c:
            resp = c.get("/audit", params={k: v for k, v in filters.items() if v is not None})
            resp.raise_for_status()
            return resp.json()["items"]  # type: ignore[no-any-return]


@contextmanager
def running_api(kind: str, *, limits: ApiLimits = GENEROUS, host: str = "127.0.0.1", collectors_url: str = "",
                **extras: object) -> Iterator[Api]:
    with open_store(kind) as store:
        ctx = store.context(limits=limits, host=host, **extras)
        ctx.collectors_url = collectors_url
        app = create_app(ctx)
        server = Server(app).start()
        try:
            yield Api(store, server, app)
        finally:
            server.stop()


STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=STORES)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """A served API per store kind, shared by the tests of one module."""
    with running_api(request.param) as running:
        yield running
