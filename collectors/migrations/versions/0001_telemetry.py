"""Telemetry store: spans, logs, services (the schema the collector created with create_all before).

Revision ID: 0001_telemetry
Revises:
"""
import sqlalchemy as sa
from alembic import context, op

revision = "0001_telemetry"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _schema() -> str | None:
    """The PostgreSQL schema chosen by env.py (``--db-schema``); None on SQLite."""
    return context.config.attributes.get("telemetry_schema")


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("service_version", sa.Text(), nullable=False),
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ns", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=True),
        sa.Column("links", sa.Text(), nullable=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        schema=schema,
    )
    op.create_index("ux_spans_trace_span", "spans", ["trace_id", "span_id"], unique=True, schema=schema)
    op.create_index("ix_spans_start", "spans", ["start_ns"], schema=schema)
    op.create_index("ix_spans_service_start", "spans", ["service", "start_ns"], schema=schema)

    op.create_table(
        "logs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("observed_ns", sa.BigInteger(), nullable=False),
        sa.Column("severity_number", sa.SmallInteger(), nullable=False),
        sa.Column("severity_text", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("service_version", sa.Text(), nullable=False),
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index("ix_logs_time", "logs", ["time_ns"], schema=schema)
    op.create_index("ix_logs_trace", "logs", ["trace_id"], schema=schema)
    op.create_index("ix_logs_service_time", "logs", ["service", "time_ns"], schema=schema)

    op.create_table(
        "services",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("service_version", sa.Text(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("service", "service_version"),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_table("services", schema=schema)
    op.drop_table("logs", schema=schema)  # drops its indexes with it
    op.drop_table("spans", schema=schema)
