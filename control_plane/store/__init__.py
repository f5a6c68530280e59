"""The control store: SQLAlchemy 2.x models and repositories (SQLite by default, PostgreSQL by URL)."""
