"""The real stack for supervision: PostgreSQL, RabbitMQ, Keycloak, the simulators (department
systems, the non-tax platform, SF Express) over real HTTP, the gateway served by a real werkzeug
server (platforms and couriers call it back), a connector worker for this module's own copy of the
population registry, a declared department service nobody answers (to hold a step back), and the
logistics worker. People sign in on the real Keycloak (authorization code + PKCE, mobile-app).
"""
from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import date
from pathlib import Path

import pika
import pytest
import yaml

from bus.connection import connection_parameters
from bus.service_worker import connector_runners
from bus.topology import EVENTS, declare, declare_exchanges, service_queue
from connectors.http import http_session
from idp.identifiers import make_resident_id
from idp.keycloak import admin_client
from logistics_bridge.worker import consumer_runner
from routes.app import create_app
from simulators.channels.serving import serve_in_thread
from simulators.channels.signin import Browserless
from simulators.server import run_in_thread
from tests.integration.bus.test_bus import delete_queues

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"
DEMO_PASSWORD = "Hefei-Demo-2026"
PASSWORD = "Supervise-Test-2026x"
REDIRECT = "http://127.0.0.1/mobile/cb"
SERVICE_CODE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: results may go by courier
ADDRESS = {"name": "王晓明", "phone": "13805511234", "province": "安徽", "city": "合肥市", "district": "包河区",
           "detail": "徽州大道1号 3栋201室"}


def sign_in(settings, username: str, password: str) -> str:
    return Browserless(settings.issuer).sign_in("mobile-app", REDIRECT, username=username, password=password)["access_token"]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Stack:
    def __init__(self, app, gateway_url, sim_url, registry, held):
        self.app, self.gateway_url, self.sim_url = app, gateway_url, sim_url
        self.registry, self.held = registry, held  # this module's department services
        self.client = app.test_client()
        self.runtime = app.extensions["govlink"]
        self.http = http_session(15)

    def control(self, system: str, **changes) -> dict:
        r = self.http.post(f"{self.sim_url}/{system}/_control", json=changes)
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        for system in ("sf-express", "nontax"):
            self.http.post(f"{self.sim_url}/{system}/_control/reset").raise_for_status()
        self.control("nontax", callback_url=f"{self.gateway_url}/callbacks/payments/nontax")
        self.control("sf-express", callback_url=f"{self.gateway_url}/callbacks/logistics/sf")

    def call(self, token, service, operation, payload, case_id, **headers):
        return self.client.post(f"/api/v1/services/{service}/{operation}", json={"payload": payload, "case_id": case_id},
                                headers={**auth(token), **headers})

    def api(self, method, token, path, body=None):
        return self.client.open(f"/api/v1{path}", method=method, json=body, headers=auth(token))

    def wait(self, probe, until, timeout=25.0):
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if until(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def flush_logs(self) -> None:
        assert self.runtime.message_log.flush(15)


@pytest.fixture(scope="module")
def stack(settings, db, tmp_path_factory):
    unique = uuid.uuid4().hex[:8]
    sim_url, stop_sims = run_in_thread()
    previous = os.environ.get("GOVLINK_SIMULATORS_URL")
    os.environ["GOVLINK_SIMULATORS_URL"] = sim_url
    folder = tmp_path_factory.mktemp("supervision-connectors")
    registry, held = f"population-registry-sv{unique}", f"e-licence-sv{unique}"
    for base, name in (("population-registry", registry), ("e-licence", held)):
        decl = yaml.safe_load((SHIPPED / f"{base}.yaml").read_text())
        decl["service"] = name
        decl["retry"] = {"attempts": 1, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    grants = [{"clients": [CASE_SYSTEM, "channel/mobile-app"], "service": n, "operations": ["*"]} for n in (registry, held)]
    access = folder.parent / f"access-sv{unique}.yaml"
    access.write_text(yaml.safe_dump({"grants": grants}))
    app = create_app(settings.replace(simulators_url=sim_url, connectors_dir=str(folder), access_file=str(access),
                                      service_call_timeout_seconds=12))
    gateway_url, stop_gateway = serve_in_thread(app)
    s = Stack(app, gateway_url, sim_url, registry, held)
    # The held service's queue exists (the call is accepted) but no worker ever answers it.
    tiers = settings.retry_tier_seconds  # evt.logistics is shared: its tiers must match everyone's
    declare(settings.amqp_url, [service_queue(held, tiers)])
    runners = [r.start() for r in connector_runners(s.runtime, [registry])]
    logistics = consumer_runner(s.runtime).start()
    s.reset()
    yield s
    logistics.stop()
    for r in runners:
        r.stop()
    stop_gateway()
    stop_sims()
    s.runtime.close()
    queues = []
    for name in (registry, held):
        q = service_queue(name, tiers)
        queues += [q.name, q.parking, *(q.retry_queue(i + 1) for i in range(len(tiers)))]
    delete_queues(settings, queues)
    if previous is None:
        os.environ.pop("GOVLINK_SIMULATORS_URL", None)
    else:
        os.environ["GOVLINK_SIMULATORS_URL"] = previous


def _person(settings):
    admin = admin_client(settings, settings.realm)
    resident_id = make_resident_id("340111", date(1960 + random.randrange(40), 1 + random.randrange(12),
                                                  1 + random.randrange(28)), random.randrange(1, 999))
    user_id = admin.create_user({"username": resident_id, "enabled": True, "firstName": "测试", "lastName": "孙",
                                 "attributes": {"assurance_level": ["1"]},
                                 "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}]})
    admin.assign_realm_roles(user_id, [admin.get_realm_role("citizen")])
    return admin, user_id, resident_id


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of a fresh citizen (deleted afterwards)."""
    admin, user_id, resident_id = _person(settings)
    yield resident_id, sign_in(settings, resident_id, PASSWORD)
    admin.delete_user(user_id)


@pytest.fixture(scope="module")
def other_citizen(settings):
    admin, user_id, resident_id = _person(settings)
    yield resident_id, sign_in(settings, resident_id, PASSWORD)
    admin.delete_user(user_id)


@pytest.fixture(scope="module")
def supervisor(settings):
    return sign_in(settings, "supervisor01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def clerk(settings):
    return sign_in(settings, "clerk01", DEMO_PASSWORD)


class Events:
    """A temporary queue bound to govlink.events for `supervision.#`, read directly from RabbitMQ."""

    def __init__(self, amqp_url):
        self.conn = pika.BlockingConnection(connection_parameters(amqp_url))
        self.channel = self.conn.channel()
        declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, EVENTS, routing_key="supervision.#")
        self.seen: list[tuple[str, dict]] = []

    def of(self, case_id: str, settle: float = 1.0) -> list[str]:
        self.conn.sleep(settle)
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                break
            self.seen.append((method.routing_key, json.loads(body)))
        return [key for key, envelope in self.seen if envelope.get("case_id") == case_id]

    def close(self):
        self.conn.close()


@pytest.fixture()
def events(settings):
    e = Events(settings.amqp_url)
    yield e
    e.close()
