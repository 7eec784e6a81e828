"""Alembic migrations up and down on a scratch PostgreSQL database (the real server)."""
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from store import migrate
from store.db import Database
from tests.support.scratch_db import drop_scratch_database


@pytest.fixture()
def scratch_db(settings, unique):
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    name = f"govlink_mig_{unique}"
    admin = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(url.set(database=name).render_as_string(hide_password=False))
    yield database
    database.dispose()
    drop_scratch_database(admin, name)
    admin.dispose()


def test_upgrade_to_head_then_downgrade_to_base(scratch_db):
    migrate.upgrade(scratch_db)
    assert migrate.current(scratch_db) == migrate.head(scratch_db)
    tables = set(inspect(scratch_db.engine).get_table_names())
    assert {"message_log", "processed_messages", "alembic_version"} <= tables
    migrate.downgrade(scratch_db, "base")
    assert migrate.current(scratch_db) is None
    assert set(inspect(scratch_db.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(scratch_db)  # and back up again: the chain is repeatable
    assert migrate.current(scratch_db) == migrate.head(scratch_db)


def test_migrations_match_the_models(scratch_db):
    """No model change without a migration: autogenerate finds nothing to do at head."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import store.models  # noqa: F401
    from store.base import Base

    migrate.upgrade(scratch_db)
    with scratch_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_sqlite_default_migrates_too(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'embedded.sqlite3'}")
    migrate.upgrade(database)
    assert migrate.current(database) == migrate.head(database)
    migrate.downgrade(database, "base")
    assert migrate.current(database) is None


def test_files_kept_as_received_are_compressed_with_lz4(scratch_db):
    """0025: the columns that hold whole statements and bills use LZ4 (this server has it), and going
    back down gives them the default again."""
    query = text("SELECT c.relname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                 "WHERE a.attname = 'raw' AND c.relname IN ('reconciliation_imports', 'payment_statements', "
                 "'courier_bills') ORDER BY c.relname")
    migrate.upgrade(scratch_db)
    with scratch_db.engine.connect() as conn:
        assert conn.execute(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                 "WHERE name = 'default_toast_compression'")).scalar() is True
        assert conn.execute(query).all() == [("courier_bills", "l"), ("payment_statements", "l"),
                                             ("reconciliation_imports", "l")]
    migrate.downgrade(scratch_db, "0024")
    with scratch_db.engine.connect() as conn:
        assert {method for _, method in conn.execute(query)} == {"p"}
