"""The one SQLite file a service owns (in FLEET_DATA_DIR).

Services use the standard library's sqlite3 directly: each owns a tiny fixed schema created at
start, so an ORM and migrations would add weight without buying anything here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(data_dir: Path, name: str, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) ``<data_dir>/<name>.sqlite3`` and apply ``schema`` (idempotent DDL)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / f"{name}.sqlite3", check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(schema)
    return conn


def memory_db(schema: str) -> sqlite3.Connection:
    """An in-memory database with ``schema`` (unit tests)."""
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(schema)
    return conn
