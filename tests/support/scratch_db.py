"""Dropping a throwaway test database.

`DROP DATABASE ... WITH (FORCE)` ends the other sessions on it, but not one the test's role may not
signal: an autovacuum worker that started on the freshly written database runs as the bootstrap
superuser, and the drop then fails with InsufficientPrivilege. Such a worker is gone within
seconds, so the drop is tried again for a while.
"""
from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


def drop_scratch_database(admin, name: str, seconds: float = 60) -> None:
    """Drop `name` through `admin` (an AUTOCOMMIT engine), trying again while a session we may not end holds it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
