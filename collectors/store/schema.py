"""Tables of the telemetry store (its own schema, never shared with the control store).

Indexes are chosen for the queries: a trace by id and the parent join of the service graph use
(trace_id, span_id), which is unique so a retried export does not duplicate spans; time-window
scans and newest-first pages use start_ns / time_ns; per-service pages use (service, time).
Ids are lower-case hex text, as in OTLP/JSON and the query API.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, SmallInteger, String, Table, Text

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class Tables:
    """The store's tables, bound to one MetaData (and PostgreSQL schema, when given)."""

    metadata: MetaData
    spans: Table
    logs: Table
    services: Table


def build_tables(schema: str | None = None) -> Tables:
    """Table definitions in ``schema`` (PostgreSQL) or the default namespace (SQLite)."""
    md = MetaData(schema=schema)
    spans = Table(
        "spans", md,
        Column("trace_id", String(32), nullable=False),
        Column("span_id", String(16), nullable=False),
        Column("parent_span_id", String(16), nullable=False, default=""),
        Column("name", Text, nullable=False),
        Column("kind", SmallInteger, nullable=False),
        Column("service", Text, nullable=False),
        Column("service_version", Text, nullable=False),
        Column("instance_id", Text, nullable=False),
        Column("start_ns", BigInteger, nullable=False),
        Column("end_ns", BigInteger, nullable=False),
        Column("duration_ns", BigInteger, nullable=False),
        Column("status_code", SmallInteger, nullable=False),  # 0 unset, 1 ok, 2 error
        Column("status_message", Text, nullable=False),
        Column("attributes", Text, nullable=False),  # JSON object
        Column("events", Text),  # JSON list or NULL
        Column("links", Text),  # JSON list or NULL
        Column("resource", Text, nullable=False),  # JSON object of resource attributes
        Column("scope", Text, nullable=False),
        Index("ux_spans_trace_span", "trace_id", "span_id", unique=True),
        Index("ix_spans_start", "start_ns"),
        Index("ix_spans_service_start", "service", "start_ns"),
    )
    logs = Table(
        "logs", md,
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("time_ns", BigInteger, nullable=False),
        Column("observed_ns", BigInteger, nullable=False),
        Column("severity_number", SmallInteger, nullable=False),
        Column("severity_text", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("attributes", Text, nullable=False),
        Column("service", Text, nullable=False),
        Column("service_version", Text, nullable=False),
        Column("instance_id", Text, nullable=False),
        Column("trace_id", String(32)),
        Column("span_id", String(16)),
        Column("resource", Text, nullable=False),
        Column("scope", Text, nullable=False),
        Index("ix_logs_time", "time_ns"),
        Index("ix_logs_trace", "trace_id"),
        Index("ix_logs_service_time", "service", "time_ns"),
    )
    services = Table(
        "services", md,
        Column("service", Text, primary_key=True),
        Column("service_version", Text, primary_key=True),
        Column("last_seen_ns", BigInteger, nullable=False),
    )
    return Tables(md, spans, logs, services)
