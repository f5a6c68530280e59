"""Alembic builds the auth schema from nothing, takes it down and up again, and matches the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from test_api_support import migrated_store

from control_plane.store import auth_models  # noqa: F401  (registers the tables on Base)
from control_plane.store.db import Base, make_engine
from control_plane.store.migrate import alembic_config, upgrade

pytestmark = pytest.mark.component

AUTH_TABLES = {"users", "api_tokens", "audit_log", "idempotency_records"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_schema_from_nothing_down_and_up(kind: str) -> None:
    with migrated_store(kind) as url:
        engine = make_engine(url)
        try:
            assert AUTH_TABLES <= set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() is not None
            command.downgrade(alembic_config(url), "0001_fleet")
            engine.dispose()
            assert not AUTH_TABLES & set(inspect(engine).get_table_names())
            upgrade(url)
            engine.dispose()
            assert AUTH_TABLES <= set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            ours = [d for d in diffs if _table_of(d) in AUTH_TABLES]
            assert ours == [], ours
        finally:
            engine.dispose()


def _table_of(diff: object) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item if isinstance(item, tuple) else ():
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if getattr(part, "name", None) in AUTH_TABLES:
            return str(part.name)
    if isinstance(item, tuple) and len(item) > 2 and isinstance(item[2], str):
        return item[2]
    return None
