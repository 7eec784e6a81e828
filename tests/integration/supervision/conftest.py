"""The real stack for supervision: PostgreSQL, RabbitMQ, Keycloak, the simulators (department
systems, the non-tax platform, SF Express) over real HTTP, the gateway served by a real werkzeug
server (platforms and couriers call it back), a connector worker for this module's own copy of the
population registry, a declared department service nobody answers (to hold a step back), and the
logistics worker. People sign in on the real Keycloak (authorization code + PKCE, mobile-app).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import yaml

from connectors.worker import connector_runners
from bus.topology import declare, service_queue
from logistics_bridge.worker import consumer_runner
from tests.support.events import EventCapture
from tests.support.gateway_server import GatewayStack, gateway_with_simulators
from tests.support.keycloak_users import DEMO_PASSWORD, People, sign_in
from tests.support.queues import delete_queues, work_queue_names

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"
PASSWORD = "Supervise-Test-2026x"
SERVICE_CODE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: results may go by courier


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Stack(GatewayStack):
    def __init__(self, app, gateway_url, sim_url, registry, held):
        super().__init__(app, gateway_url, sim_url)
        self.registry, self.held = registry, held  # this module's department services

    def reset(self) -> None:
        self.reset_simulators({"sf-express": "/callbacks/logistics/sf", "nontax": "/callbacks/payments/nontax"})

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
    tiers = settings.retry_tier_seconds  # evt.logistics is shared: its tiers must match everyone's
    with gateway_with_simulators(settings, connectors_dir=str(folder), access_file=str(access),
                                 service_call_timeout_seconds=12) as (app, gateway_url, sim_url), \
            pytest.MonkeyPatch.context() as env:
        env.setenv("GOVLINK_SIMULATORS_URL", sim_url)  # the copied declarations call this module's simulators
        s = Stack(app, gateway_url, sim_url, registry, held)
        # The held service's queue exists (the call is accepted) but no worker ever answers it.
        declare(settings.amqp_url, [service_queue(held, tiers)])
        runners = [r.start() for r in connector_runners(s.runtime, [registry])]
        logistics = consumer_runner(s.runtime).start()
        s.reset()
        yield s
        logistics.stop()
        for r in runners:
            r.stop()
    delete_queues(settings, [name for service in (registry, held)
                             for name in work_queue_names(service_queue(service, tiers))])


@pytest.fixture(scope="module")
def citizen(settings):
    """(resident ID number, access token) of a fresh citizen (deleted afterwards)."""
    with People(settings, PASSWORD, region="340111") as people:
        yield people.signed_in("孙")


@pytest.fixture(scope="module")
def other_citizen(settings):
    with People(settings, PASSWORD, region="340111") as people:
        yield people.signed_in("孙")


@pytest.fixture(scope="module")
def supervisor(settings):
    return sign_in(settings, "supervisor01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def clerk(settings):
    return sign_in(settings, "clerk01", DEMO_PASSWORD)


@pytest.fixture()
def events(settings):
    """Supervision events (`supervision.#`) as published, by case id."""
    with EventCapture(settings.amqp_url, "supervision.#", lambda envelope: envelope.get("case_id")) as capture:
        yield capture
