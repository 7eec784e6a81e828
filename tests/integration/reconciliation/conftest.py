"""A database with the reconciliation tables, on the real PostgreSQL.

Normally `govlink db upgrade` (migration 0005) has created them. While 0005 is not yet in the
migration chain, the fixture runs 0005's own upgrade() through Alembic's operations (so the
migration itself is what is tested) and its downgrade() at the end, leaving the database as found.
"""
import importlib.util
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

MIGRATION = Path(__file__).resolve().parents[3] / "store" / "migrations" / "versions" / "0005_reconciliation.py"


def _migration():
    spec = importlib.util.spec_from_file_location("migration_0005", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(database, step: str) -> None:
    module = _migration()
    with database.engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            getattr(module, step)()


@pytest.fixture(scope="session")
def recon_db(request, settings):
    try:
        database = request.getfixturevalue("db")
    except KeyError:  # 0005 refers to a revision not merged yet: Alembic cannot build the chain
        from store.db import Database

        database = Database(settings.database_url)
    if database.backend != "postgresql":
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    created = not inspect(database.engine).has_table("reconciliation_runs")
    if created:
        _run(database, "upgrade")
    yield database
    if created:
        _run(database, "downgrade")


@pytest.fixture()
def migration_0005():
    """Run a step ("upgrade" / "downgrade") of migration 0005 on a database."""
    return _run
