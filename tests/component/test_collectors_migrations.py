"""The telemetry schema comes from its own Alembic migrations, on SQLite and on PostgreSQL.

Each PostgreSQL test uses a fresh schema (``tel_test_<random>``) that is dropped afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, inspect, select, text

from collectors.store import migrate
from collectors.store.engine import drop_pg_schema, make_engine, open_store
from collectors.store.schema import build_tables

pytestmark = pytest.mark.component


@dataclass
class Target:
    kind: str
    url: str
    schema: str | None  # PostgreSQL schema; None on SQLite

    def engine(self) -> Engine:
        return make_engine(self.url)


def _pg_available(url: str) -> bool:
    from sqlalchemy.exc import OperationalError

    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except OperationalError:
        return False


def _target(kind: str, tmp_path: Path, pg_url: str, name: str) -> Iterator[Target]:
    if kind == "sqlite":
        yield Target(kind, f"sqlite:///{tmp_path / (name + '.db')}", None)
        return
    if not _pg_available(pg_url):
        pytest.skip(f"no PostgreSQL at {pg_url}")
    schema = f"tel_test_{uuid.uuid4().hex[:12]}"
    try:
        yield Target(kind, pg_url, schema)
    finally:
        drop_pg_schema(pg_url, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[Target]:
    yield from _target(request.param, tmp_path, pg_url, "a")


@pytest.fixture
def other(target: Target, tmp_path: Path, pg_url: str) -> Iterator[Target]:
    """A second, empty target of the same kind."""
    yield from _target(target.kind, tmp_path, pg_url, "b")


def _revision(conn: Connection, schema: str | None) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE,
                                                 "version_table_schema": schema})
    return ctx.get_current_revision()


def _diffs(conn: Connection, schema: str | None) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={
        "version_table": migrate.VERSION_TABLE, "version_table_schema": schema,
        "include_schemas": schema is not None,
        "include_name": lambda name, type_, _p: type_ != "schema" or name == schema,
    })
    return list(compare_metadata(ctx, build_tables(schema).metadata))


HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def test_one_head_and_a_distinct_version_table() -> None:
    assert HEAD == "0001_telemetry"
    assert migrate.VERSION_TABLE == "telemetry_alembic_version"


def test_migrations_build_the_schema_from_nothing_and_match_the_models(target: Target) -> None:
    store = open_store(target.url, target.schema)
    try:
        with store.engine.connect() as conn:
            names = set(inspect(conn).get_table_names(schema=target.schema))
            assert names == {"spans", "logs", "services", migrate.VERSION_TABLE}
            assert _revision(conn, target.schema) == HEAD
            assert _diffs(conn, target.schema) == []
            if target.kind == "postgresql":
                # Nothing of ours outside the schema (in particular no alembic_version in public).
                found = conn.execute(text(
                    "select table_schema from information_schema.tables where table_name = :t"),
                    {"t": migrate.VERSION_TABLE}).scalars().all()
                assert found == [target.schema]
    finally:
        store.dispose()


def test_starting_twice_is_idempotent_and_keeps_data(target: Target) -> None:
    store = open_store(target.url, target.schema)
    services = store.tables.services
    with store.engine.begin() as conn:
        conn.execute(services.insert().values(service="cart", service_version="v1", last_seen_ns=1))
    store.dispose()
    store = open_store(target.url, target.schema)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(services)).scalar_one() == 1
            version_table = f'"{target.schema}".{migrate.VERSION_TABLE}' if target.schema else migrate.VERSION_TABLE
            assert conn.execute(text(f"select version_num from {version_table}")).scalars().all() == [HEAD]
            assert _diffs(conn, target.schema) == []
    finally:
        store.dispose()


def test_downgrade_to_nothing_and_up_again(target: Target) -> None:
    engine = target.engine()
    try:
        migrate.upgrade(engine, target.schema)
        cfg = migrate.alembic_config(target.url, target.schema)
        command.downgrade(cfg, "base")
        engine.dispose()
        assert set(inspect(engine).get_table_names(schema=target.schema)) <= {migrate.VERSION_TABLE}
        migrate.upgrade(engine, target.schema)
        with engine.connect() as conn:
            assert _revision(conn, target.schema) == HEAD
            assert _diffs(conn, target.schema) == []
    finally:
        engine.dispose()


def _catalog(engine: Engine, schema: str | None) -> dict[str, object]:
    """Tables, columns, keys and index definitions as the database reports them (schema name blanked)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text(
                "select type, name, tbl_name, sql from sqlite_master where name not like 'sqlite_%' "
                "and tbl_name != :v order by name"), {"v": migrate.VERSION_TABLE}).all()
            return {"sqlite_master": [(t, n, tb, re.sub(r"\s+", " ", s or "").strip()) for t, n, tb, s in rows]}
        cols = conn.execute(text(
            "select table_name, ordinal_position, column_name, data_type, character_maximum_length, "
            "is_nullable, column_default from information_schema.columns where table_schema = :s "
            "and table_name != :v order by table_name, ordinal_position"),
            {"s": schema, "v": migrate.VERSION_TABLE}).all()
        idx = conn.execute(text(
            "select tablename, indexname, indexdef from pg_indexes where schemaname = :s "
            "and tablename != :v order by indexname"), {"s": schema, "v": migrate.VERSION_TABLE}).all()
        cons = conn.execute(text(
            "select conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) from pg_constraint "
            "where connamespace = cast(:s as regnamespace) and conrelid::regclass::text not like :v "
            "order by conname"), {"s": schema, "v": f"%{migrate.VERSION_TABLE}"}).all()
        seqs = conn.execute(text(
            "select sequence_name, data_type from information_schema.sequences where sequence_schema = :s "
            "order by sequence_name"), {"s": schema}).all()
        blank = (lambda v: v.replace(f'"{schema}".', "S.").replace(f"{schema}.", "S.") if isinstance(v, str) else v)
        return {name: [tuple(blank(v) for v in row) for row in rows]
                for name, rows in {"columns": cols, "indexes": idx, "constraints": cons, "sequences": seqs}.items()}


def test_migrated_schema_is_exactly_what_create_all_built(target: Target, other: Target) -> None:
    """0001 reproduces the pre-Alembic schema: same columns, types, keys, indexes, sequences."""
    legacy = other.engine()
    migrated = target.engine()
    try:
        if other.schema:
            with legacy.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{other.schema}"'))
        build_tables(other.schema).metadata.create_all(legacy)
        migrate.upgrade(migrated, target.schema)
        before, after = _catalog(legacy, other.schema), _catalog(migrated, target.schema)
        assert after == before
        assert any(after.values())
    finally:
        legacy.dispose()
        migrated.dispose()


def test_a_store_created_before_migrations_is_adopted_with_its_data(target: Target) -> None:
    engine = target.engine()
    try:
        if target.schema:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{target.schema}"'))
        tables = build_tables(target.schema)
        tables.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(tables.services.insert().values(service="cart", service_version="v1", last_seen_ns=1))
    finally:
        engine.dispose()
    store = open_store(target.url, target.schema)
    try:
        with store.engine.connect() as conn:
            assert _revision(conn, target.schema) == HEAD
            assert conn.execute(select(func.count()).select_from(store.tables.services)).scalar_one() == 1
    finally:
        store.dispose()
