"""Typed configuration of a collectors process, built once by the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collectors.store.writer import Retention


@dataclass(frozen=True)
class CollectorConfig:
    """Everything a collectors process needs; every field has a command-line flag (see README)."""

    host: str = "127.0.0.1"
    port: int = 4318
    # SQLAlchemy URL of the telemetry store; empty = SQLite file at db_path.
    db_url: str = ""
    db_path: Path = Path("telemetry.db")
    # PostgreSQL schema holding the tables (ignored for SQLite).
    db_schema: str = "telemetry"
    # Largest request body accepted as sent, and after gzip decompression (413 beyond).
    max_body_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    # Items (spans + log records) accepted but not yet committed before the receiver answers 429.
    queue_capacity: int = 100_000
    # Most items written in one transaction.
    batch_items: int = 8192
    # Seconds a client is asked to wait (Retry-After) when pushed back.
    retry_after_s: int = 1
    retention: Retention = field(default_factory=Retention)

    @property
    def store_url(self) -> str:
        return self.db_url or f"sqlite:///{self.db_path.resolve()}"
