"""Every circuit breaker's state is a gauge on the process's registry (one series per state, 1 for the current)."""
from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from connectors.circuit import CircuitBreaker


def _state(service: str) -> dict[str, float]:
    return {state: REGISTRY.get_sample_value("govlink_circuit_state", {"service": service, "state": state})
            for state in ("closed", "open", "half_open")}


def test_the_gauge_follows_the_breaker_closed_open_half_open():
    now = [100.0]
    service = f"dept-{uuid.uuid4().hex[:8]}"
    breaker = CircuitBreaker(service, failure_threshold=2, reset_timeout=30, clock=lambda: now[0])
    assert _state(service) == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
    breaker.record_failure()
    breaker.record_failure()
    assert _state(service) == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
    now[0] += 31  # the reset timeout passed: a caller arriving now would be the trial
    assert _state(service) == {"closed": 0.0, "open": 0.0, "half_open": 1.0}
    breaker.record_success()
    assert _state(service) == {"closed": 1.0, "open": 0.0, "half_open": 0.0}


def test_a_breaker_no_longer_used_leaves_the_gauge():
    service = f"gone-{uuid.uuid4().hex[:8]}"
    breaker = CircuitBreaker(service)
    assert _state(service)["closed"] == 1.0
    del breaker
    import gc

    gc.collect()
    assert _state(service)["closed"] is None
