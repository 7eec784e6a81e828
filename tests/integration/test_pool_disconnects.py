"""A pooled connection the server ended while it sat idle is replaced on checkout, not handed out broken.

`store.db` pings a connection on checkout only when it sat unused for IDLE_PING_SECONDS (pool_pre_ping
pinged on every checkout: a round trip per transaction). Real PostgreSQL: the server ends the session
with pg_terminate_backend, as a restart or a failover would.
"""
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from store import db as store_db
from store.db import Database


def _pooled_backend(database: Database) -> int:
    with database.unit_of_work() as session:  # checked out, used, checked back in
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(settings, pid: int) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


@pytest.fixture()
def database(settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    database = Database(settings.database_url)
    yield database
    database.dispose()


def test_an_idle_connection_the_server_ended_is_replaced_on_checkout(settings, database, monkeypatch):
    monkeypatch.setattr(store_db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
    old = _pooled_backend(database)
    _terminate(settings, old)
    with database.unit_of_work() as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != old


def test_without_the_idle_ping_the_ended_connection_fails_once_then_the_pool_is_renewed(settings, database,
                                                                                         monkeypatch):
    monkeypatch.setattr(store_db, "IDLE_PING_SECONDS", 3600.0)  # used moments ago: not pinged
    old = _pooled_backend(database)
    _terminate(settings, old)
    with pytest.raises(DBAPIError) as failed:
        with database.unit_of_work() as session:
            session.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    with database.unit_of_work() as session:  # the disconnect invalidated the pool: a new connection
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != old
