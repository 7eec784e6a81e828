"""Fixtures of the chaos tests: private instances to break, and the `CHAOS ...` report lines.

The shared services of `make services` are never stopped here: a scenario that restarts a broker,
a database or Keycloak gets its own instance (tests/chaos/instances.py), started for the session
on other ports and removed afterwards, even when a test fails.
"""
from __future__ import annotations

import atexit

import pytest

from tests.chaos import instances

_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if _LINES:
        terminalreporter.section("chaos: what went in and what came out")
        for line in _LINES:
            terminalreporter.write_line(line)


@pytest.fixture()
def chaos_report(request):
    """`chaos_report(scenario, sent=, effects=, lost=, doubled=, **more)`: print the line, assert nothing lost/doubled."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")

    def report(scenario: str, *, sent: int, effects: int, lost: int, doubled: int, **more) -> str:
        extra = "".join(f" {k}={v}" for k, v in more.items())
        line = f"CHAOS {scenario} sent={sent} effects={effects} lost={lost} doubled={doubled}{extra}"
        _LINES.append(line)
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(line)
        assert lost == 0 and doubled == 0, line
        return line

    return report


@pytest.fixture()
def chaos_line(request):
    """`chaos_line(scenario, **fields)`: print `CHAOS <scenario> k=v ...` for scenarios counted otherwise."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")

    def line(scenario: str, **fields) -> str:
        text = f"CHAOS {scenario}" + "".join(f" {k}={v}" for k, v in fields.items())
        _LINES.append(text)
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(text)
        return text

    return line


def _owned(factory):
    """Start an instance for the session; it is stopped and removed however the session ends."""
    instance = factory()
    atexit.register(instance.close)
    try:
        instance.start()
    except BaseException:
        instance.close()
        raise
    return instance


@pytest.fixture(scope="session", autouse=True)
def _sweep():
    instances.sweep_leftovers()
    yield


@pytest.fixture(scope="session")
def chaos_rabbit():
    rabbit = _owned(instances.ChaosRabbit)
    yield rabbit
    rabbit.close()


@pytest.fixture(scope="session")
def chaos_postgres():
    pg = instances.ChaosPostgres()
    atexit.register(pg.close)
    try:
        pg.start()
        pg.create_database()
    except BaseException:
        pg.close()
        raise
    yield pg
    pg.stop_immediate()
    pg.close()


@pytest.fixture(scope="session")
def chaos_keycloak():
    kc = _owned(instances.ChaosKeycloak)
    yield kc
    kc.close()
