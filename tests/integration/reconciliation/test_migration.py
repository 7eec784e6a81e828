"""Migration 0005 creates exactly the tables the models declare, and removes them again."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import store.models.reconciliation  # noqa: F401
from store.base import Base
from store.db import Database


@pytest.fixture()
def scratch(settings, unique):
    url = make_url(settings.database_url)
    name = f"govlink_recon_{unique}"
    admin = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(url.set(database=name).render_as_string(hide_password=False))
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migration_matches_the_models(scratch, migration_0005):
    migration_0005(scratch, "upgrade")
    ours = [t for t in Base.metadata.sorted_tables if t.name.startswith("reconciliation_")]
    with scratch.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={
            "include_object": lambda obj, name, kind, reflected, other: kind != "table" or name.startswith("reconciliation_")}),
            Base.metadata)
    assert diff == [], diff
    assert {t.name for t in ours} <= set(inspect(scratch.engine).get_table_names())
    migration_0005(scratch, "downgrade")
    assert not [n for n in inspect(scratch.engine).get_table_names() if n.startswith("reconciliation_")]
