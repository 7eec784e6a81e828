"""Fixtures shared by every kind of test.

Integration tests use the real services that `make test` started; the URLs come from the
environment (`GOVLINK_*`), exactly as the processes read them.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

import pytest

import requests

from config.settings import Settings
from simulators.server import run_in_thread
from tests.support.gateway_server import keycloak_facing_gateway

# The cluster scenarios (tests/cluster/) need `make cluster` and run only under `make chaos-cluster`,
# which sets GOVLINK_CLUSTER=required; elsewhere they are not collected (never a skip that proves nothing).
collect_ignore = [] if os.environ.get("GOVLINK_CLUSTER") == "required" else ["cluster"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath)
        for kind in ("integration", "browser", "chaos", "security"):
            if f"{os.sep}tests{os.sep}{kind}{os.sep}" in path:
                item.add_marker(getattr(pytest.mark, kind))


# Logs of the suite (R11): every test process writes its JSON log lines to GOVLINK_TEST_LOG_DIR, and
# tests/zz_logs/ scans what was written during the run for unmasked identifiers. Other logs it scans
# (Keycloak's, gunicorn's under var/) are read from the size they had when the session started.
REPO = Path(__file__).resolve().parent.parent
# Rate limits per address are raised for the suite: every in-process test client calls from 127.0.0.1.
os.environ.setdefault("GOVLINK_RATE_LIMITS", str(REPO / "tests" / "support" / "rate_limits.yaml"))
LOG_DIR = Path(os.environ.get("GOVLINK_TEST_LOG_DIR") or REPO / "var" / "test-logs")
SESSION_STARTED = time.time()
_log_handler: logging.Handler | None = None


def other_logs() -> list[Path]:
    """Logs of the services the suite talks to: Keycloak's (the stack script's cache) and any under var/."""
    cache = Path(os.environ.get("GOVLINK_CACHE") or Path.home() / ".cache" / "govlink")
    found = [cache / "keycloak.log"] + sorted((REPO / "var").rglob("*.log"))
    return [p for p in found if p.is_file() and LOG_DIR not in p.parents]


LOG_OFFSETS = {str(p): p.stat().st_size for p in other_logs()}


def _attach_log_file() -> None:
    from config.logging import JsonFormatter

    global _log_handler
    root = logging.getLogger()
    if _log_handler is None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        _log_handler = logging.FileHandler(LOG_DIR / f"pytest-{os.getpid()}.jsonl", encoding="utf-8", delay=True)
        _log_handler.setFormatter(JsonFormatter())
        _log_handler.setLevel(logging.DEBUG)
    if _log_handler not in root.handlers:  # a test may have cleared the root handlers
        root.addHandler(_log_handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


@pytest.fixture(autouse=True)
def _suite_log_file():
    """Every test's log records also go, as JSON lines, to this process's file in GOVLINK_TEST_LOG_DIR."""
    _attach_log_file()
    yield
    if _log_handler is not None:
        _log_handler.flush()


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
    from bootstrap.gateway import create_app

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


SYSTEMS = ("population", "enterprise", "e-licence")


class Simulators:
    """The running simulators and their `_control` endpoints."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def control(self, system: str, **changes) -> dict:
        """Change a system's behaviour (see simulators/control.py) and return its state."""
        response = self.http.post(f"{self.base_url}/{system}/_control", json=changes, timeout=5)
        response.raise_for_status()
        return response.json()

    def state(self, system: str) -> dict:
        return self.http.get(f"{self.base_url}/{system}/_control", timeout=5).json()

    def calls(self, system: str, operation: str) -> int:
        return self.state(system)["calls"].get(operation, 0)

    def admin(self, path: str, body: dict) -> dict:
        response = self.http.post(f"{self.base_url}{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        for system in SYSTEMS:
            self.http.post(f"{self.base_url}/{system}/_control/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def simulators():
    base_url, stop = run_in_thread()
    sims = Simulators(base_url)
    yield sims
    stop()


@pytest.fixture()
def sim(simulators):
    """The simulators, back to normal behaviour and zeroed counters after the test."""
    simulators.reset()
    yield simulators
    simulators.reset()


@pytest.fixture(scope="module")
def gateway(settings, db):
    """The gateway served on 127.0.0.1:8000, where Keycloak calls it (CIBA channel, back-channel logout)."""
    with keycloak_facing_gateway(settings) as url:
        yield url


def client_credentials_token(settings, client_id: str, secret: str | None = None) -> str:
    """An access token for a service-account client of the realm (client credentials grant)."""
    from config.realm import derived_secret
    from kernel.http import http_session

    if secret is None:
        secret = settings.gateway_client_secret if client_id == settings.gateway_client_id else derived_secret(settings, client_id)
    response = http_session(10).post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
