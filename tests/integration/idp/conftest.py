"""Fixtures for the identity tests against the real Keycloak, RabbitMQ, PostgreSQL and simulators.

- `workers`: connector workers for the two registries, pointed at this module's simulators, so
  L2 and enterprise checks really go gateway -> bus -> worker -> SOAP simulator.
- `gateway` (tests/conftest.py): the gateway served on 127.0.0.1:8000, because Keycloak calls it
  there (CIBA authentication channel from `scripts/stack.env`, back-channel logout from
  `public_base_url`). The port must be free (stop `make run` first).
- `people`: creates citizens with fresh resident ID numbers (known to the population simulator)
  and deletes them afterwards.
"""
from __future__ import annotations

import pytest

from config.realm import derived_secret
from simulators.channels.signin import Browserless
from tests.support.keycloak_users import People

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
    from bootstrap.runtime import Runtime
    from connectors.worker import connector_runners

    with pytest.MonkeyPatch.context() as env:
        env.setenv("GOVLINK_SIMULATORS_URL", simulators.base_url)
        runtime = Runtime(settings, name="idp-test-worker")
        runners = [r.start() for r in connector_runners(runtime, ["population-registry", "enterprise-registry"])]
        yield Registries(simulators, settings)
        for runner in runners:
            runner.stop()
        runtime.close()


class RegisteredPeople(People):
    """Citizens created for a test, in Keycloak (L1) and in the population simulator."""

    def __init__(self, settings, registries):
        super().__init__(settings, PASSWORD)
        self.registries = registries

    def create(self, family="张", given="测试", *, in_registry=True, level=1) -> dict:
        person = super().create(family, given, level=level)
        if in_registry:
            self.registries.admin("/population/_admin/people", {"name": person["name"], "idNumber": person["resident_id"]})
        return person


@pytest.fixture()
def people(settings, simulators):
    with RegisteredPeople(settings, Registries(simulators, settings)) as registry:
        yield registry


class Channels:
    """Sign-ins to the channel clients, one user agent (SSO session) per `agent()`."""

    def __init__(self, settings):
        self.settings = settings

    def agent(self) -> Browserless:
        return Browserless(self.settings.issuer)

    def secret(self, client_id: str) -> str | None:
        return None if client_id == "mobile-app" else derived_secret(self.settings, client_id)

    def sign_in(self, client_id: str, person: dict | None = None, *, agent: Browserless | None = None,
                username=None, password=None, scope="openid", new_password=None) -> dict:
        agent = agent or self.agent()
        return agent.sign_in(client_id, REDIRECT[client_id], username=username or (person or {}).get("resident_id"),
                             password=password or (person or {}).get("password"), client_secret=self.secret(client_id),
                             scope=scope, new_password=new_password)

    def refresh(self, client_id: str, tokens: dict, agent: Browserless | None = None) -> dict:
        return (agent or self.agent()).refresh(client_id, tokens["refresh_token"], self.secret(client_id))


@pytest.fixture(scope="session")
def channels(settings):
    return Channels(settings)


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
