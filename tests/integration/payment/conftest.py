"""The real stack for the payment bridge: PostgreSQL, RabbitMQ, Keycloak, the simulators over real
HTTP on a free port, and the gateway served by a real werkzeug server (the platforms call it back)."""
from __future__ import annotations

import json
import random
import threading
import time
from datetime import date

import pika
import pytest
from werkzeug.serving import make_server

from bus.connection import connection_parameters
from bus.topology import EVENTS, declare_exchanges
from connectors.http import http_session
from idp.identifiers import make_resident_id
from payment_bridge.wiring import payment_service
from routes.app import create_app
from simulators.server import run_in_thread
from tests.conftest import client_credentials_token
from tests.integration.payment.keycloak_login import ensure_person, login

PASSWORD = "Payer-Test-2026x"
STAFF_PASSWORD = "Hefei-Demo-2026"


class Stack:
    def __init__(self, app, gateway_url, sim_url):
        self.app, self.gateway_url, self.sim_url = app, gateway_url, sim_url
        self.client = app.test_client()
        self.runtime = app.extensions["govlink"]
        self.service = payment_service(self.runtime)
        self.http = http_session(15)

    def control(self, system: str, **changes) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control", json=changes)
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        for system in ("nontax", "wechatpay"):
            self.http.post(f"{self.sim_url}/{system}/_control/reset").raise_for_status()
            self.control(system, callback_url=f"{self.gateway_url}/callbacks/payments/{system}")

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
        return self.http.get(f"{self.sim_url}/{system}/_control").json()["deliveries"]


@pytest.fixture(scope="module")
def stack(settings, db):
    sim_url, stop_sims = run_in_thread()
    app = create_app(settings.replace(simulators_url=sim_url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    s = Stack(app, f"http://127.0.0.1:{server.server_port}", sim_url)
    s.reset()
    yield s
    server.shutdown()
    thread.join(10)
    stop_sims()
    s.runtime.close()


@pytest.fixture()
def pay_stack(stack):
    stack.reset()
    yield stack
    stack.reset()


class Events:
    """A temporary queue bound to govlink.events, read directly from RabbitMQ."""

    def __init__(self, amqp_url):
        self.conn = pika.BlockingConnection(connection_parameters(amqp_url))
        self.channel = self.conn.channel()
        declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, EVENTS, routing_key="payment.#")
        self.seen: list[tuple[str, dict]] = []

    def wait_for(self, event_type: str, notice_id: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for routing_key, envelope in self.seen:
                if routing_key == event_type and envelope["payload"]["notice_id"] == notice_id:
                    return envelope
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.conn.sleep(0.05)
                continue
            self.seen.append((method.routing_key, json.loads(body)))
        raise AssertionError(f"no {event_type} for {notice_id} on {EVENTS}")

    def count(self, event_type: str, notice_id: str, settle: float = 1.0) -> int:
        self.conn.sleep(settle)
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                break
            self.seen.append((method.routing_key, json.loads(body)))
        return sum(1 for k, e in self.seen if k == event_type and e["payload"]["notice_id"] == notice_id)

    def close(self):
        self.conn.close()


@pytest.fixture()
def events(settings):
    e = Events(settings.amqp_url)
    yield e
    e.close()


def _new_citizen(settings) -> tuple[str, str]:
    resident_id = make_resident_id("340104", date(1980 + random.randrange(30), 1 + random.randrange(12),
                                                  1 + random.randrange(28)), random.randrange(1, 999))
    ensure_person(settings, resident_id, PASSWORD)
    return resident_id, login(settings, resident_id, PASSWORD)


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of a fresh citizen signed in on the mobile app (real Keycloak)."""
    return _new_citizen(settings)


@pytest.fixture(scope="module")
def other_citizen(settings):
    return _new_citizen(settings)


@pytest.fixture(scope="module")
def finance_token(settings):
    return login(settings, "finance01", STAFF_PASSWORD)


@pytest.fixture(scope="module")
def agency_token(settings):
    """The case-handling subsystem's service account (a department system creating notices)."""
    return client_credentials_token(settings, "case-system")


def notice_body(payer_key, *, platform=None, price=1500, qty=2, case_id="CASE-2026-0001"):
    body = {"agency_code": "340100-GA-JJ", "payer_key": payer_key, "payer_name": "王测试", "case_id": case_id,
            "items": [{"code": "GA-0101", "name": "驾驶证工本费", "unit": "本", "unit_price_fen": price,
                       "quantity": qty}]}
    if platform:
        body["platform"] = platform
    return body
