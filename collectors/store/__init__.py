"""The telemetry store: SQLite (WAL) in a file by default, PostgreSQL by URL, through SQLAlchemy."""
