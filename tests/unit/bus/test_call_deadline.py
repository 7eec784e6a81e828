"""A waiting caller's deadline travels in the envelope; the worker gives the department only the time left."""
from datetime import datetime, timedelta, timezone

import pytest

from bus.envelope import InvalidEnvelope, call_timeout, decode, encode, new_envelope

NOW = datetime(2026, 12, 6, 10, 0, 0, tzinfo=timezone.utc)
CLIENT = "GOV/11340100002987128A/case-system"


def _env(deadline=None):
    return new_envelope("service.call", {"x": 1}, client=CLIENT, service="population-registry",
                        operation="verify-identity", deadline=deadline)


def test_the_deadline_travels_on_the_wire_as_an_aware_time():
    env = decode(encode(_env(NOW + timedelta(seconds=3))))
    assert datetime.fromisoformat(env["deadline"]) == NOW + timedelta(seconds=3)


def test_an_envelope_without_a_deadline_has_no_such_key():
    assert "deadline" not in _env()


def test_a_naive_deadline_is_refused():
    env = _env()
    env["deadline"] = "2026-12-06T10:00:00"
    with pytest.raises(InvalidEnvelope):
        decode(encode(env))


def test_the_call_gets_the_time_left_before_the_deadline():
    assert call_timeout(_env(NOW + timedelta(seconds=2.5)), 10.0, now=NOW) == pytest.approx(2.5)


def test_never_more_than_the_declared_timeout():
    assert call_timeout(_env(NOW + timedelta(seconds=60)), 10.0, now=NOW) == 10.0


def test_without_a_deadline_the_declared_timeout():
    assert call_timeout(_env(), 10.0, now=NOW) == 10.0


def test_once_the_caller_is_gone_the_call_goes_on_with_the_declared_timeout():
    assert call_timeout(_env(NOW - timedelta(seconds=1)), 10.0, now=NOW) == 10.0
