"""The city month's database (bench/city.py): its name, its URL, a fresh migrated one, its marker."""
from __future__ import annotations

import os
from datetime import date

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_URL = os.environ.get("GOVLINK_DATABASE_URL", "postgresql://govlink:govlink@127.0.0.1:5432/govlink_test")


def default_name(url: str = DEFAULT_URL) -> str:
    """BENCH_CITY_DATABASE, else govlink_city beside govlink_test (govlink_city_NAME beside govlink_test_NAME)."""
    if os.environ.get("BENCH_CITY_DATABASE"):
        return os.environ["BENCH_CITY_DATABASE"]
    db = make_url(url).database or ""
    return "govlink_city" + (db[len("govlink_test"):] if db.startswith("govlink_test_") else "")


CITY_DATABASE = default_name()


def fresh_database(url: str, name: str) -> str:
    """Drop and create database `name` on the server of `url`, migrate it; return its URL."""
    from store import migrate
    from store.db import Database

    server = make_url(url).set(drivername="postgresql")
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    city_url = server.set(database=name).render_as_string(hide_password=False)
    database = Database(city_url)
    migrate.upgrade(database)
    database.dispose()
    return city_url


def marker(scale: float, seed: int, today: date) -> str:
    """What the database's comment says about the city in it (bench/city_reads.py reuses a matching one)."""
    from bus.message_log.chain import CHAIN_FORMAT

    return f"bench.city scale={scale:g} seed={seed} day={today} chain_format={CHAIN_FORMAT}"


def city_url(url: str = DEFAULT_URL, name: str = CITY_DATABASE) -> str:
    return make_url(url).set(drivername="postgresql", database=name).render_as_string(hide_password=False)
