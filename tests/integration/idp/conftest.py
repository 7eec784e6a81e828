"""Fixtures for the identity tests against the real Keycloak, RabbitMQ, PostgreSQL and simulators.

- `workers`: connector workers for the two registries, pointed at this module's simulators, so
  L2 and enterprise checks really go gateway -> bus -> worker -> SOAP simulator.
- `gateway`: the gateway served on 127.0.0.1:8000, because Keycloak calls it there (CIBA
  authentication channel from `scripts/stack.env`, back-channel logout from `public_base_url`).
  The port must be free (stop `make run` first).
- `people`: creates citizens with fresh resident ID numbers (known to the population simulator)
  and deletes them afterwards.
"""
from __future__ import annotations

import os
import random
import socket
from datetime import date, timedelta

import pytest

from config.realm import derived_secret
from idp.identifiers import make_resident_id
from idp.keycloak import admin_client
from simulators.channels.serving import serve_in_thread
from simulators.channels.signin import Browserless

PASSWORD = "Hefei-Test-2026x"
REDIRECT = {"web-portal": "http://127.0.0.1:8399/portal/cb", "mobile-app": "http://127.0.0.1:8399/mobile/cb",
            "service-hall": "http://127.0.0.1:8399/counter/cb"}


class Registries:
    """The registry simulators our workers call, plus the shared one of a running `make run` if any.

    Another connector worker (e.g. `make run`'s) may take a call from the same queue, so test data
    goes to both simulators and call counts add up both.
    """

    def __init__(self, simulators, settings):
        self.simulators = simulators
        self.urls = [simulators.base_url]
        try:
            if simulators.http.get(f"{settings.simulators_url}/healthz", timeout=1).ok:
                self.urls.append(settings.simulators_url)
        except Exception:
            pass

    def admin(self, path: str, body: dict) -> None:
        for url in self.urls:
            self.simulators.http.post(f"{url}{path}", json=body, timeout=5).raise_for_status()

    def calls(self, system: str, operation: str) -> int:
        return sum(self.simulators.http.get(f"{url}/{system}/_control", timeout=5).json()["calls"].get(operation, 0)
                   for url in self.urls)


@pytest.fixture(scope="module")
def workers(simulators, settings):
    from bus.runtime import Runtime
    from bus.service_worker import connector_runners

    previous = os.environ.get("GOVLINK_SIMULATORS_URL")
    os.environ["GOVLINK_SIMULATORS_URL"] = simulators.base_url
    runtime = Runtime(settings, name="idp-test-worker")
    runners = [r.start() for r in connector_runners(runtime, ["population-registry", "enterprise-registry"])]
    yield Registries(simulators, settings)
    for runner in runners:
        runner.stop()
    runtime.close()
    if previous is None:
        os.environ.pop("GOVLINK_SIMULATORS_URL", None)
    else:
        os.environ["GOVLINK_SIMULATORS_URL"] = previous


@pytest.fixture(scope="module")
def gateway(settings, db):
    from routes.app import create_app

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.fail("127.0.0.1:8000 is taken (is `make run` running?): Keycloak calls the gateway there")
    app = create_app(settings)
    url, stop = serve_in_thread(app, "127.0.0.1", 8000)
    yield url
    stop()
    app.extensions["govlink"].close()


class People:
    """Citizens created for a test, in Keycloak (L1) and in the population simulator."""

    def __init__(self, settings, registries=None):
        self.settings = settings
        self.registries = registries
        self.admin = admin_client(settings, settings.realm)
        self.created: list[str] = []

    def new_resident_id(self) -> str:
        birth = date(1950, 1, 1) + timedelta(days=random.randrange(18000))
        return make_resident_id("340104", birth, random.randrange(1, 999))

    def create(self, family="张", given="测试", *, in_registry=True, level=1) -> dict:
        resident_id = self.new_resident_id()
        user_id = self.admin.create_user({
            "username": resident_id, "enabled": True, "lastName": family, "firstName": given,
            "attributes": {"assurance_level": [str(level)]},
            "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}]})
        self.admin.assign_realm_roles(user_id, [self.admin.get_realm_role("citizen")])
        self.created.append(user_id)
        if in_registry and self.registries is not None:
            self.registries.admin("/population/_admin/people", {"name": family + given, "idNumber": resident_id})
        return {"id": user_id, "resident_id": resident_id, "name": family + given, "password": PASSWORD}

    def cleanup(self) -> None:
        for user_id in self.created:
            try:
                self.admin.delete_user(user_id)
            except Exception:
                pass


@pytest.fixture()
def people(settings, simulators):
    registry = People(settings, Registries(simulators, settings))
    yield registry
    registry.cleanup()


class Channels:
    """Sign-ins to the channel clients, one user agent (SSO session) per `agent()`."""

    def __init__(self, settings):
        self.settings = settings

    def agent(self) -> Browserless:
        return Browserless(self.settings.issuer)

    def secret(self, client_id: str) -> str | None:
        return None if client_id == "mobile-app" else derived_secret(self.settings, client_id)

    def sign_in(self, client_id: str, person: dict | None = None, *, agent: Browserless | None = None,
                username=None, password=None, scope="openid") -> dict:
        agent = agent or self.agent()
        return agent.sign_in(client_id, REDIRECT[client_id], username=username or (person or {}).get("resident_id"),
                             password=password or (person or {}).get("password"), client_secret=self.secret(client_id),
                             scope=scope)

    def refresh(self, client_id: str, tokens: dict, agent: Browserless | None = None) -> dict:
        return (agent or self.agent()).refresh(client_id, tokens["refresh_token"], self.secret(client_id))


@pytest.fixture(scope="session")
def channels(settings):
    return Channels(settings)


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
