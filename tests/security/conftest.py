"""Hostile-input tests run against the real stack: the gateway (in process), the simulators over real
HTTP, PostgreSQL, RabbitMQ and Keycloak. The payment stack and tokens are the payment tests' own."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from tests.integration.payment.conftest import (agency_token, citizen, finance_token, notice_body,  # noqa: F401
                                                stack)

SQL_INJECTION = "'; DROP TABLE payment_notices; --"
SCRIPT = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"
HOSTILE_TEXT = (SQL_INJECTION, SCRIPT, FORMULA)


def new_key() -> str:
    return f"sec-{random.getrandbits(64):016x}"


def rows(db, sql: str, **params) -> int:
    """How many rows a query finds (tables are shared with other tests: always filter on our own ids)."""
    with db.unit_of_work() as session:
        return session.execute(text(f"SELECT count(*) FROM ({sql}) AS q"), params).scalar_one()


def nothing_stored_for_key(db, key: str) -> bool:
    """No idempotency record, hence no notice, for this Idempotency-Key."""
    return rows(db, "SELECT 1 FROM payment_idempotency_keys WHERE key = :key", key=key) == 0


def assert_error(response, status: int, code: str | tuple[str, ...]):
    """A JSON error with this status and code, a message, and a correlation id; returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    body = response.get_json()
    codes = (code,) if isinstance(code, str) else code
    assert body["code"] in codes, body
    assert isinstance(body["message"], str) and body["message"], body
    assert body.get("correlation_id"), body
    return body


@pytest.fixture(scope="module")
def sec(stack):
    """The payment stack, reset for this module."""
    stack.reset()
    return stack


@pytest.fixture(scope="module")
def registered_notice(sec, agency_token, citizen):  # noqa: F811
    """A registered (unpaid) non-tax notice of the citizen: what a forged or hostile callback would target."""
    resident_id, _token = citizen
    r = sec.create(agency_token, notice_body(resident_id, case_id="SEC-CASE-0001"))
    assert r.status_code == 201, r.get_data(as_text=True)
    notice = r.get_json()
    assert notice["status"] == "registered" and notice["platform"] == "nontax"
    return notice
