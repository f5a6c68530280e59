"""Run the telemetry store's Alembic migrations (collectors/migrations) programmatically.

They are separate from the control store's: their own script location and their own version
table (``telemetry_alembic_version``, in the telemetry schema on PostgreSQL), so a database
shared with the control store never mixes the two histories.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "telemetry_alembic_version"
SCHEMA_ATTRIBUTE = "telemetry_schema"
BASELINE = "0001_telemetry"
_BASELINE_TABLES = {"spans", "logs", "services"}


def alembic_config(url: str, schema: str | None = None) -> Config:
    """Config for ``url``; ``schema`` is the PostgreSQL schema (ignored by SQLite)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if schema:
        cfg.set_main_option(SCHEMA_ATTRIBUTE, schema)
    return cfg


def upgrade(engine: Engine, schema: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the telemetry schema behind ``engine`` (idempotent).

    A store created before the migrations existed (the three tables, no version table) is
    stamped at the baseline revision first, so its data is kept and later revisions apply.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False), schema)
    pg_schema = schema if engine.dialect.name == "postgresql" else None
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        names = set(inspect(conn).get_table_names(schema=pg_schema))
        conn.commit()
        if VERSION_TABLE not in names and _BASELINE_TABLES <= names:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        conn.commit()
