"""Fixtures shared by every kind of test.

Integration tests use the real services that `make test` started; the URLs come from the
environment (`GOVLINK_*`), exactly as the processes read them.
"""
from __future__ import annotations

import os
import uuid

import pytest

from config.settings import Settings


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath)
        for kind in ("integration", "browser", "chaos"):
            if f"{os.sep}tests{os.sep}{kind}{os.sep}" in path:
                item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env(log_json=True)


@pytest.fixture(scope="session")
def db(settings):
    from store import migrate
    from store.db import Database

    database = Database(settings.database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture()
def app(settings):
    from routes.app import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def unique() -> str:
    """A short unique suffix so tests can share one broker and database without colliding."""
    return uuid.uuid4().hex[:10]
