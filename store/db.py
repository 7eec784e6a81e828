"""Engine, sessions and the unit of work."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import url_per_host


def _multi_host(url: str) -> str:
    """libpq's `postgresql://u:p@h1:5711,h2:5712/db?target_session_attrs=read-write` in the form
    SQLAlchemy parses (`...@/db?host=h1:5711&host=h2:5712&...`); other URLs unchanged."""
    hosts = url_per_host(url)
    if len(hosts) < 2:
        return url
    first = make_url(hosts[0])
    extra = {"host": [f"{u.host}:{u.port}" if u.port else u.host for u in map(make_url, hosts)]}
    return first.set(host=None, port=None).update_query_dict(extra).render_as_string(hide_password=False)


def make_engine(url: str, *, connect_timeout: float = 5.0) -> Engine:
    """An engine with sane pool settings for the backend in `url` (which may name several hosts:
    with `target_session_attrs=read-write` libpq connects to the one that takes writes)."""
    parsed = make_url(_multi_host(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets the gateway and workers share the file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if parsed.drivername == "postgresql":  # one driver everywhere: psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(
        parsed,
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args={"connect_timeout": max(1, int(connect_timeout))},
    )
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it sat unused for IDLE_PING_SECONDS (SQLAlchemy's
    custom pessimistic handling): `pool_pre_ping` pinged on every checkout, a round trip per transaction
    (a few percent of a department call's CPU in the gateway and the worker). A connection used moments
    ago that the server dropped since fails its statement as a disconnect, which invalidates the whole
    pool: only work in flight at the outage fails, as it would anyway."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_PING_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # the pool drops it and checks out another (up to three times)
                raise DisconnectionError(f"a pooled connection did not answer: {type(exc).__name__}") from exc


def ensure_database(url: str, *, connect_timeout: float = 5.0) -> bool:
    """Create the PostgreSQL database `url` names if it is missing (connecting to the server's
    `postgres` database with the same credentials, which need CREATEDB); True if it was created.
    SQLite needs nothing (its file is made on first use). Idempotent, also when two race."""
    parsed = make_url(_multi_host(url))
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    name = parsed.database
    engine = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False),
                         connect_timeout=connect_timeout).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                return False
            quoted = conn.dialect.identifier_preparer.quote_identifier(name)
            try:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
            except Exception:
                if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                    return False  # created by someone else meanwhile
                raise
            return True
    finally:
        engine.dispose()


class Database:
    """One engine and session factory per process; `unit_of_work()` commits or rolls back."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0):
        self.url = url
        self.engine = make_engine(url, connect_timeout=connect_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")  # shares the pool

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction that commits or rolls back: for hot paths that run Core
        statements only and need none of a session's bookkeeping (the connector worker's call)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A Core connection in autocommit: for one statement that is a transaction by itself (the
        gateway's accepted record of a department call), without the BEGIN and COMMIT round trips of
        `transaction()`. The pool gives the connection back in transaction mode."""
        with self._autocommit.connect() as conn:
            yield conn

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def ping(db: Database) -> None:
    """Raise if the database does not answer `SELECT 1`."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
