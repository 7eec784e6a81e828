"""The reconciliation tests' database: the real PostgreSQL, migrated to head by the `db` fixture.

(Migration 0005 itself is covered with every other migration by
tests/integration/test_postgres_migrations.py: up, down, and no drift from the models.)
"""
import pytest


@pytest.fixture(scope="session")
def recon_db(db):
    if db.backend != "postgresql":
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    return db
