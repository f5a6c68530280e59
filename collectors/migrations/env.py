"""Alembic environment for the telemetry store (its own scripts and version table).

Run through ``collectors.store.migrate``: it sets ``sqlalchemy.url``, the PostgreSQL schema
(``telemetry_schema``) and, when the caller already has one, the connection to use.
On PostgreSQL the schema is created if missing and holds both the tables and the version table;
SQLite has no schemas (its separation is the file itself).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from collectors.store.engine import make_engine
from collectors.store.migrate import SCHEMA_ATTRIBUTE, VERSION_TABLE
from collectors.store.schema import build_tables

config = context.config


def _run(connection: Connection) -> None:
    schema = (config.get_main_option("telemetry_schema") or None) if connection.dialect.name == "postgresql" else None
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
    config.attributes[SCHEMA_ATTRIBUTE] = schema  # read by the revision scripts
    context.configure(
        connection=connection,
        target_metadata=build_tables(schema).metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        include_schemas=schema is not None,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


run_migrations_online()
