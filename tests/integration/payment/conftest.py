"""The real stack for the payment bridge: PostgreSQL, RabbitMQ, Keycloak, the simulators over real
HTTP on a free port, and the gateway served by a real werkzeug server (the platforms call it back)."""
from __future__ import annotations

import random
import uuid
import time

import pytest
from tests.conftest import client_credentials_token
from tests.support.events import EventCapture
from tests.support.gateway_server import GatewayStack, gateway_with_simulators
from tests.support.keycloak_users import DEMO_PASSWORD, People, sign_in

PASSWORD = "Payer-Test-2026x"


class Stack(GatewayStack):
    def __init__(self, app, gateway_url, sim_url):
        super().__init__(app, gateway_url, sim_url)
        self.service = self.runtime.payments

    def reset(self) -> None:
        self.reset_simulators({system: f"/callbacks/payments/{system}" for system in ("nontax", "wechatpay")})

    def create(self, token, body, key=None):
        return self.client.post("/api/v1/payments", json=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": key or f"test-{random.getrandbits(64):016x}"})

    def get(self, token, path=""):
        return self.client.get(f"/api/v1/payments{path}", headers={"Authorization": f"Bearer {token}"})

    def pay(self, notice: dict) -> dict:
        """Pay on the simulator's pay page, as the payer would."""
        if notice["platform"] == "nontax":
            url = notice["pay_url"]
        else:
            url = f"{self.sim_url}/wechatpay/pay/{notice['payment_code']}"
        r = self.http.post(url, data={"pay_mode": "3"}, headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, token, notice_id, status, timeout=15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(token, f"/{notice_id}").get_json()
            if body.get("status") == status or time.monotonic() > deadline:
                return body
            time.sleep(0.1)

    def deliveries(self, system: str) -> list[dict]:
        return self.state(system)["deliveries"]


@pytest.fixture(scope="module")
def stack(settings, db):
    with gateway_with_simulators(settings) as served:
        s = Stack(*served)
        s.reset()
        yield s


@pytest.fixture()
def pay_stack(stack):
    stack.reset()
    yield stack
    stack.reset()


@pytest.fixture()
def events(settings):
    """Payment events (`payment.#`) as published, by notice id."""
    with EventCapture(settings.amqp_url, "payment.#", lambda envelope: envelope["payload"]["notice_id"]) as capture:
        yield capture


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of a fresh citizen signed in on the mobile app (real Keycloak)."""
    with People(settings, PASSWORD) as people:
        yield people.signed_in("王", level=2)


@pytest.fixture(scope="module")
def other_citizen(settings):
    with People(settings, PASSWORD) as people:
        yield people.signed_in("王", level=2)


@pytest.fixture(scope="module")
def finance_token(settings):
    return sign_in(settings, "finance01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def agency_token(settings):
    """The case-handling subsystem's service account (a department system creating notices)."""
    return client_credentials_token(settings, "case-system")


def self_service_body(*, code="GA-0101", qty=3, case_id=None, platform=None):
    """A citizen's notice: a self-service item of config/fees.yaml (GA-0101: 1000 fen) for themselves, a new case."""
    body = {"case_id": case_id or f"CASE-{uuid.uuid4().hex[:10]}", "items": [{"code": code, "quantity": qty}]}
    if platform:
        body["platform"] = platform
    return body


def notice_body(payer_key, *, platform=None, price=1500, qty=2, case_id="CASE-2026-0001"):
    """A clerk's or department's notice (any declared agency, item and price)."""
    body = {"agency_code": "340100-GA-JJ", "payer_key": payer_key, "payer_name": "王测试", "case_id": case_id,
            "items": [{"code": "GA-0101", "name": "驾驶证工本费", "unit": "本", "unit_price_fen": price,
                       "quantity": qty}]}
    if platform:
        body["platform"] = platform
    return body
