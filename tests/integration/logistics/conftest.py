"""The real stack for the logistics bridge: PostgreSQL, RabbitMQ, Keycloak, the simulators (SF, EMS,
Kuaidi100, the non-tax platform and WeChat Pay) over real HTTP on a free port, the gateway served by a real werkzeug server
(platforms and couriers call it back), and the logistics worker consuming `evt.logistics`.

Users sign in on the real Keycloak through the identity area's scripted browser
(`simulators.channels.signin.Browserless`, authorization code + PKCE on the mobile-app channel).
"""
from __future__ import annotations

import time
import uuid

import pytest

from config.realm import demo_users
from logistics_bridge.worker import consumer_runner
from tests.support.addresses import ADDRESS
from tests.support.events import EventCapture
from tests.support.gateway_server import GatewayStack, gateway_with_simulators
from tests.support.keycloak_users import DEMO_PASSWORD, People, sign_in

OTHER_PASSWORD = "Logistics-Test-2026x"
SERVICE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: both legs may go by courier
CALLBACKS = {"sf-express": "/callbacks/logistics/sf", "ems": "/callbacks/logistics/ems",
             "nontax": "/callbacks/payments/nontax", "wechatpay": "/callbacks/payments/wechatpay"}


class Stack(GatewayStack):
    def __init__(self, app, gateway_url: str, sim_url: str):
        super().__init__(app, gateway_url, sim_url)
        self.service = self.runtime.logistics

    # ------------------------------------------------------------------ simulators
    def advance(self, system: str, waybill_no: str, **how) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control/advance", json={"waybill_no": waybill_no, **how})
        assert r.status_code == 200, r.text
        return r.json()

    def repush(self, system: str, waybill_no: str) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control/repush", json={"waybill_no": waybill_no})
        assert r.status_code == 200, r.text
        return r.json()

    def kuaidi100_advance(self, number: str, **how) -> dict:
        """Move a waybill subscribed at Kuaidi100 along its trace; Kuaidi100 pushes to the subscriber."""
        r = self.http.post(f"{self.sim_url}/kuaidi100/_control/advance", json={"number": number, **how})
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        self.reset_simulators(CALLBACKS)
        # Kuaidi100 pushes to the callback URL of each subscription (govlink's public_base_url).
        self.http.post(f"{self.sim_url}/kuaidi100/_control/reset").raise_for_status()

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
        r = self.try_to_pay(leg)
        assert r.status_code == 200, r.text

    def try_to_pay(self, leg: dict):
        """The applicant's attempt to pay the postage at its platform (non-tax pay page, or WeChat Pay's)."""
        url = leg["postage"]["pay_url"]
        if not url.startswith("http"):  # WeChat Pay's code_url: pay on the simulator's page instead
            url = f"{self.sim_url}/wechatpay/pay/{leg['postage']['payment_code']}"
        return self.http.post(url, data={"pay_mode": "3"}, headers={"Accept": "application/json"})

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
    with gateway_with_simulators(settings) as served:
        s = Stack(*served)
        runner = consumer_runner(s.runtime).start()  # the logistics worker: evt.logistics <- payment.paid
        s.reset()
        yield s
        runner.stop()


@pytest.fixture()
def ship(stack):
    stack.reset()
    yield stack
    stack.reset()


@pytest.fixture()
def events(settings):
    """Shipment events (`shipment.#`) as published, by leg id."""
    with EventCapture(settings.amqp_url, "shipment.#", lambda envelope: envelope["payload"]["leg_id"],
                      settle=0.5) as capture:
        yield capture


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of the demo citizen of realm hefei (`govlink realm demo-users`)."""
    person = demo_users()[0]
    return person["username"], sign_in(settings, person["username"], DEMO_PASSWORD)


@pytest.fixture(scope="module")
def other_citizen(settings):
    """A second citizen, created in Keycloak for this module and deleted afterwards."""
    with People(settings, OTHER_PASSWORD, region="340111") as people:
        yield people.signed_in("赵")


@pytest.fixture(scope="module")
def clerk(settings):
    return sign_in(settings, "clerk01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def finance(settings):
    return sign_in(settings, "finance01", DEMO_PASSWORD)
