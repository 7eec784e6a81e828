"""`govlink db create` (make run's own database): created on the PostgreSQL server if missing, once."""
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from store.db import ensure_database


def test_a_missing_database_is_created_once_and_sqlite_needs_nothing(settings, tmp_path):
    if not settings.database_url.startswith("postgresql"):
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    name = f"govlink_ensure_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(settings.database_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        assert ensure_database(url) is True
        assert ensure_database(url) is False
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    assert ensure_database(f"sqlite:///{tmp_path / 'x.sqlite3'}") is False
