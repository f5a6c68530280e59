"""Open the telemetry store: engine with the right pragmas, schema built by its Alembic migrations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from collectors.store import migrate
from collectors.store.schema import Tables, build_tables

DEFAULT_PG_SCHEMA = "telemetry"


@dataclass(frozen=True)
class Store:
    """An engine plus the tables in it; ``dialect`` is 'sqlite' or 'postgresql'."""

    engine: Engine
    tables: Tables

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets queries read while the single writer commits; NORMAL is durable across a process
    # crash (only an OS crash can lose the last commits), which is what the ack contract needs.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def make_engine(url: str) -> Engine:
    """Engine for ``sqlite:///PATH`` (WAL pragmas) or ``postgresql://...`` (psycopg 3)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    raise ValueError(f"unsupported telemetry store URL {url!r}: use sqlite:///PATH or postgresql://...")


def open_store(url: str, schema: str | None = None, create: bool = True) -> Store:
    """Connect to ``url`` and, with ``create``, bring the schema to the latest migration.

    ``schema`` picks the PostgreSQL schema (default ``telemetry``); SQLite ignores it, its
    separation is the file itself.
    """
    engine = make_engine(url)
    schema = (schema or DEFAULT_PG_SCHEMA) if engine.dialect.name == "postgresql" else None
    if create:
        try:
            migrate.upgrade(engine, schema)
        except BaseException:
            engine.dispose()
            raise
    return Store(engine, build_tables(schema))


def drop_pg_schema(url: str, schema: str) -> None:
    """Drop a PostgreSQL schema and everything in it (tests use one schema per run)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
