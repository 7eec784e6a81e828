"""The real stack for the logistics bridge: PostgreSQL, RabbitMQ, Keycloak, the simulators (SF, EMS,
the non-tax platform) over real HTTP on a free port, the gateway served by a real werkzeug server
(platforms and couriers call it back), and the logistics worker consuming `evt.logistics`.

Users sign in on the real Keycloak through the identity area's scripted browser
(`simulators.channels.signin.Browserless`, authorization code + PKCE on the mobile-app channel).
"""
from __future__ import annotations

import json
import random
import time
import uuid
from datetime import date

import pika
import pytest

from bus.connection import connection_parameters
from bus.topology import EVENTS, declare_exchanges
from config.realm import demo_users
from connectors.http import http_session
from idp.identifiers import make_resident_id
from logistics_bridge.wiring import logistics_service
from logistics_bridge.worker import consumer_runner
from routes.app import create_app
from simulators.channels.serving import serve_in_thread
from simulators.channels.signin import Browserless
from simulators.server import run_in_thread

DEMO_PASSWORD = "Hefei-Demo-2026"
OTHER_PASSWORD = "Logistics-Test-2026x"
REDIRECT = "http://127.0.0.1/mobile/cb"  # loopback redirect of the mobile-app channel (any port)
SERVICE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: both legs may go by courier
ADDRESS = {"name": "王晓明", "phone": "13805511234", "province": "安徽", "city": "合肥市", "district": "包河区",
           "detail": "徽州大道1号 3栋201室"}


def sign_in(settings, username: str, password: str) -> str:
    """An access token of `username` for the mobile-app channel (real Keycloak login form)."""
    return Browserless(settings.issuer).sign_in("mobile-app", REDIRECT, username=username,
                                                password=password)["access_token"]


class Stack:
    def __init__(self, app, gateway_url: str, sim_url: str):
        self.app, self.gateway_url, self.sim_url = app, gateway_url, sim_url
        self.client = app.test_client()
        self.runtime = app.extensions["govlink"]
        self.service = logistics_service(self.runtime)
        self.http = http_session(15)

    # ------------------------------------------------------------------ simulators
    def control(self, system: str, **changes) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control", json=changes)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self, system: str) -> dict:
        return self.http.get(f"{self.sim_url}/{system}/_control").json()

    def advance(self, system: str, waybill_no: str, **how) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control/advance", json={"waybill_no": waybill_no, **how})
        assert r.status_code == 200, r.text
        return r.json()

    def repush(self, system: str, waybill_no: str) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control/repush", json={"waybill_no": waybill_no})
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        for system in ("sf-express", "ems", "nontax"):
            self.http.post(f"{self.sim_url}/{system}/_control/reset").raise_for_status()
        self.control("nontax", callback_url=f"{self.gateway_url}/callbacks/payments/nontax")
        self.control("sf-express", callback_url=f"{self.gateway_url}/callbacks/logistics/sf")
        self.control("ems", callback_url=f"{self.gateway_url}/callbacks/logistics/ems")

    # ------------------------------------------------------------------ gateway
    def api(self, method: str, token: str, path: str, body=None):
        return self.client.open(f"/api/v1/logistics{path}", method=method, json=body,
                                headers={"Authorization": f"Bearer {token}"})

    def create_leg(self, token, *, carrier="sf", kind="results", case_id=None, **extra):
        body = {"case_id": case_id or f"CASE-{uuid.uuid4().hex[:12]}", "service_code": SERVICE, "kind": kind,
                "carrier": carrier, "address": ADDRESS, **extra}
        return self.api("POST", token, "/legs", body)

    def leg(self, token, leg_id) -> dict:
        r = self.api("GET", token, f"/legs/{leg_id}")
        assert r.status_code == 200, r.get_json()
        return r.json

    def pay(self, leg: dict) -> None:
        """Pay the leg's postage on the non-tax platform's pay page, as the applicant would."""
        r = self.http.post(leg["postage"]["pay_url"], data={"pay_mode": "3"}, headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text

    def wait_leg(self, token, leg_id, until, timeout=20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            leg = self.leg(token, leg_id)
            if until(leg) or time.monotonic() > deadline:
                return leg
            time.sleep(0.1)

    def paid_and_booked(self, token, **create) -> dict:
        """A leg created by the applicant, its postage paid, booked with its carrier."""
        created = self.create_leg(token, **create)
        assert created.status_code == 201, created.get_json()
        leg = created.get_json()
        self.pay(leg)
        booked = self.wait_leg(token, leg["id"], lambda l: l["state"] != "awaiting_payment")
        assert booked["state"] == "booked", booked
        return booked


@pytest.fixture(scope="module")
def stack(settings, db):
    sim_url, stop_sims = run_in_thread()
    app = create_app(settings.replace(simulators_url=sim_url))
    gateway_url, stop_gateway = serve_in_thread(app)
    s = Stack(app, gateway_url, sim_url)
    runner = consumer_runner(s.runtime).start()  # the logistics worker: evt.logistics <- payment.paid
    s.reset()
    yield s
    runner.stop()
    stop_gateway()
    stop_sims()
    s.runtime.close()


@pytest.fixture()
def ship(stack):
    stack.reset()
    yield stack
    stack.reset()


class Events:
    """A temporary queue bound to govlink.events for `shipment.#`, read directly from RabbitMQ."""

    def __init__(self, amqp_url):
        self.conn = pika.BlockingConnection(connection_parameters(amqp_url))
        self.channel = self.conn.channel()
        declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, EVENTS, routing_key="shipment.#")
        self.seen: list[tuple[str, dict]] = []

    def drain(self, settle: float = 0.0) -> None:
        if settle:
            self.conn.sleep(settle)
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return
            self.seen.append((method.routing_key, json.loads(body)))

    def of(self, leg_id: str, settle: float = 0.5) -> list[str]:
        """The routing keys of every shipment event of `leg_id` so far."""
        self.drain(settle)
        return [key for key, envelope in self.seen if envelope["payload"]["leg_id"] == leg_id]

    def wait_for(self, event_type: str, leg_id: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for key, envelope in self.seen:
                if key == event_type and envelope["payload"]["leg_id"] == leg_id:
                    return envelope
            self.drain(0.05)
        raise AssertionError(f"no {event_type} for leg {leg_id} on {EVENTS}")

    def close(self):
        self.conn.close()


@pytest.fixture()
def events(settings):
    e = Events(settings.amqp_url)
    yield e
    e.close()


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of the demo citizen of realm hefei (`govlink realm demo-users`)."""
    person = demo_users()[0]
    return person["username"], sign_in(settings, person["username"], DEMO_PASSWORD)


@pytest.fixture(scope="module")
def other_citizen(settings):
    """A second citizen, created in Keycloak for this module and deleted afterwards."""
    from idp.keycloak import admin_client

    admin = admin_client(settings, settings.realm)
    resident_id = make_resident_id("340111", date(1970 + random.randrange(30), 1 + random.randrange(12),
                                                  1 + random.randrange(28)), random.randrange(1, 999))
    user_id = admin.create_user({"username": resident_id, "enabled": True, "firstName": "测试", "lastName": "赵",
                                 "attributes": {"assurance_level": ["1"]},
                                 "credentials": [{"type": "password", "value": OTHER_PASSWORD, "temporary": False}]})
    admin.assign_realm_roles(user_id, [admin.get_realm_role("citizen")])
    yield resident_id, sign_in(settings, resident_id, OTHER_PASSWORD)
    admin.delete_user(user_id)


@pytest.fixture(scope="module")
def clerk(settings):
    return sign_in(settings, "clerk01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def finance(settings):
    return sign_in(settings, "finance01", DEMO_PASSWORD)
