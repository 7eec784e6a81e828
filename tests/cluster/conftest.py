"""The cluster chaos tests (`make chaos-cluster`) run against the processes of `make cluster`.

They are not part of `make test`: without a running cluster they are skipped, naming the command
that starts it; under `make chaos-cluster` (GOVLINK_CLUSTER=required) a missing cluster fails them.
"""
from __future__ import annotations

import os

import pytest

from tests.cluster import topology

_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if _LINES:
        terminalreporter.section("cluster chaos: what went in and what came out")
        for line in _LINES:
            terminalreporter.write_line(line)


@pytest.fixture()
def cluster_line(request):
    """`cluster_line(scenario, **fields)`: print `CHAOS <scenario> k=v ...`; lost and doubled must be 0."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")

    def line(scenario: str, **fields) -> str:
        text = f"CHAOS {scenario}" + "".join(f" {k}={v}" for k, v in fields.items())
        _LINES.append(text)
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(text)
        assert fields.get("lost", 0) == 0 and fields.get("doubled", 0) == 0, text
        return text

    return line


def pytest_collection_modifyitems(config, items):
    for item in items:
        if f"{os.sep}tests{os.sep}cluster{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster():
    if not all(topology.port_open(p) for p in topology.ports("RABBIT_AMQP_PORTS")):
        pytest.fail("the cluster is not running: `make cluster` first (or run `make chaos-cluster`)")
    return topology
