"""What a worker's and the scheduler's /healthz say (bootstrap/processes.py), and their port setting."""
from __future__ import annotations

import logging
import socket
import time
from types import SimpleNamespace

import requests

from bootstrap.processes import serve_signals, ticks_health, workers_health
from config.settings import Settings


class FakeRunner:
    def __init__(self, ok=True, reason=None):
        self.answer = (ok, reason)

    def health(self):
        return self.answer


def test_a_worker_is_well_only_while_every_consumer_is():
    runtime = SimpleNamespace()
    runners = [FakeRunner(), FakeRunner()]
    health = workers_health(runtime, runners)
    assert health() == (True, None)
    runners.append(FakeRunner(False, "svc.new: not connected to the broker"))  # a service declared later
    assert health() == (False, "svc.new: not connected to the broker")


def test_a_worker_whose_publisher_lost_the_broker_is_not_well():
    runtime = SimpleNamespace()
    runtime.publisher = SimpleNamespace(connected=False)  # built: it is in the runtime's __dict__
    assert workers_health(runtime, [FakeRunner()])() == (False, "the publisher is not connected to the broker")


def test_the_scheduler_is_well_while_its_ticks_end():
    last = [time.monotonic()]
    health = ticks_health(last, 60)
    assert health() == (True, None)
    last[0] -= 61
    ok, reason = health()
    assert not ok and "the last scheduler tick ended 61 s ago" in reason


def test_the_endpoint_of_a_process_kind_answers_on_its_port_and_a_taken_port_is_logged(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env({}, metrics_port_worker_logistics=port)
    runtime = SimpleNamespace(settings=settings, name="worker-logistics")
    endpoint = serve_signals(runtime, lambda: (True, None))
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"status": "ok"}
        with caplog.at_level(logging.ERROR, logger="govlink.process"):
            assert serve_signals(runtime, lambda: (True, None)) is None  # the port is taken
        assert f"127.0.0.1:{port} cannot be bound" in caplog.text
    finally:
        endpoint.stop()
    assert serve_signals(SimpleNamespace(settings=settings, name="worker-other"), lambda: (True, None)) is None
