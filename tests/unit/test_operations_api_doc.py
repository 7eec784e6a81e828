"""The operations endpoints are in the OpenAPI document, each behind a bearer token; the circuit
breaker tells its listeners each transition (what the worker's circuit report writes)."""
from __future__ import annotations

from bootstrap.gateway import create_app
from config.settings import Settings
from connectors import circuit
from connectors.circuit import CircuitBreaker

PATHS = {"/api/v1/operations/services": "get", "/api/v1/operations/services/{service}": "get",
         "/api/v1/operations/services/{service}/parked": "get",
         "/api/v1/operations/services/{service}/parked/messages/{message_id}": "get",
         "/api/v1/operations/services/{service}/parked/replay": "post",
         "/api/v1/operations/services/{service}/parked/purge": "post", "/api/v1/operations/messages": "get",
         "/api/v1/operations/messages/verification": "get", "/api/v1/operations/jobs": "get",
         "/api/v1/operations/jobs/{job}/retry": "post", "/api/v1/operations/alerts": "get",
         "/api/v1/operations/audit": "get"}


def test_every_operations_endpoint_is_documented_behind_a_bearer_token():
    app = create_app(Settings.from_env({}, database_url="sqlite:///:memory:"))
    doc = app.test_client().get("/api/openapi.json").get_json()
    for path, method in PATHS.items():
        assert path in doc["paths"], path
        operation = doc["paths"][path][method]
        assert operation["security"] == [{"bearer": []}] and "403" in operation["responses"], path
    assert "operations" in {tag["name"] for tag in doc["tags"]}
    # the unauthenticated answer is 401, not a page
    assert app.test_client().get("/api/v1/operations/services").status_code == 401
    assert app.test_client().get("/console/operations/").status_code == 302  # to the sign-in


def test_the_breaker_tells_its_listeners_each_transition():
    now = [0.0]
    seen = []

    def listener(breaker, before, after):
        seen.append((breaker.name, before, after))

    circuit.LISTENERS.append(listener)
    try:
        breaker = CircuitBreaker("dept", failure_threshold=2, reset_timeout=5, clock=lambda: now[0])
        breaker.record_failure()
        assert seen == []
        breaker.record_failure()
        breaker.record_failure()  # open again: no transition
        now[0] = 6
        breaker.before_call()
        breaker.record_success()
        breaker.record_success()  # closed again: no transition
    finally:
        circuit.LISTENERS.remove(listener)
    assert seen == [("dept", "closed", "open"), ("dept", "open", "half_open"), ("dept", "half_open", "closed")]


def test_a_failing_listener_does_not_break_the_call():
    def broken(*_):
        raise RuntimeError("database down")

    circuit.LISTENERS.append(broken)
    try:
        breaker = CircuitBreaker("dept", failure_threshold=1)
        assert breaker.call(lambda: 42) == 42
        breaker.record_failure()
        assert breaker.state == "open"
    finally:
        circuit.LISTENERS.remove(broken)
