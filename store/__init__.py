"""Persistence: SQLAlchemy models, the engine and unit of work, Alembic migrations.

PostgreSQL in tests and production; a SQLite file is the embedded default for `make run`.
"""
from store.db import Database, ping

__all__ = ["Database", "ping"]
