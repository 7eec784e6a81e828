"""The circuit breaker state machine with a fake clock (connectors/circuit.py)."""
import threading

import pytest

from connectors.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from connectors.errors import ConnectorError


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _fail(code="unavailable"):
    raise ConnectorError(code, "down")


@pytest.fixture()
def clock():
    return FakeClock()


@pytest.fixture()
def breaker(clock):
    return CircuitBreaker("population-registry", failure_threshold=3, reset_timeout=30, clock=clock)


def _trip(breaker, n=3):
    for _ in range(n):
        with pytest.raises(ConnectorError):
            breaker.call(_fail)


def test_opens_after_threshold_consecutive_transient_failures(breaker):
    _trip(breaker, 2)
    assert breaker.state == CLOSED
    _trip(breaker, 1)
    assert breaker.state == OPEN


def test_open_fails_fast_without_calling(breaker, clock):
    _trip(breaker)
    calls = []
    clock.now += 10
    with pytest.raises(ConnectorError) as err:
        breaker.call(lambda: calls.append(1))
    assert err.value.code == "circuit_open" and err.value.transient
    assert err.value.details["retry_after_seconds"] == pytest.approx(20)
    assert calls == []


def test_success_resets_the_count(breaker):
    _trip(breaker, 2)
    assert breaker.call(lambda: "ok") == "ok"
    _trip(breaker, 2)
    assert breaker.state == CLOSED


def test_non_transient_errors_prove_the_endpoint_alive(breaker):
    _trip(breaker, 2)
    for _ in range(5):
        with pytest.raises(ConnectorError):
            breaker.call(lambda: _fail("fault"))
    assert breaker.state == CLOSED


def test_half_open_lets_one_trial_through_and_success_closes(breaker, clock):
    _trip(breaker)
    clock.now += 30
    assert breaker.state == HALF_OPEN
    gate, seen = threading.Event(), []

    def slow_trial():
        gate.wait(5)
        return "ok"

    trial = threading.Thread(target=lambda: seen.append(breaker.call(slow_trial)))
    trial.start()
    while not breaker._trial_running:  # the trial has been admitted
        pass
    with pytest.raises(ConnectorError) as err:  # a second caller during the trial fails fast
        breaker.call(lambda: "second")
    assert err.value.code == "circuit_open"
    gate.set()
    trial.join()
    assert seen == ["ok"] and breaker.state == CLOSED


def test_failed_trial_opens_again_for_a_full_reset_timeout(breaker, clock):
    _trip(breaker)
    clock.now += 31
    _trip(breaker, 1)
    assert breaker.state == OPEN
    clock.now += 29
    assert breaker.state == OPEN
    clock.now += 1
    assert breaker.state == HALF_OPEN


def test_a_bug_in_the_call_frees_the_trial_slot(breaker, clock):
    _trip(breaker)
    clock.now += 30
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    assert breaker.call(lambda: "ok") == "ok"


def test_thread_safety_counts_every_failure(clock):
    breaker = CircuitBreaker("x", failure_threshold=801, reset_timeout=1, clock=clock)

    def hammer():
        for _ in range(100):
            with pytest.raises(ConnectorError):
                breaker.call(_fail)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker._failures == 800 and breaker.state == CLOSED
    with pytest.raises(ConnectorError):
        breaker.call(_fail)
    assert breaker.state == OPEN


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_threshold=0)


def test_errors_that_say_nothing_about_the_endpoint_leave_the_state_alone(breaker, clock):
    _trip(breaker)
    clock.now += 30
    with pytest.raises(ConnectorError):  # the half-open trial was a bad request: still half-open
        breaker.call(lambda: _fail("invalid_request"))
    assert breaker.state == HALF_OPEN
    assert breaker.call(lambda: "ok") == "ok" and breaker.state == CLOSED
