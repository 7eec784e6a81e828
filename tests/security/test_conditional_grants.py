"""Issue 15, findings 2 and 5: grants with conditions, replayed against the real stack.

The attacks, as the tester sent them: a citizen signed in on the mobile-app channel (real Keycloak
token) lists someone else's e-licences by naming their `holder_id`, fetches a guessed sequential
`licence_id` (someone's marriage certificate), and uses the population registry's
`verify-identity` as a name oracle (any ID number, unlimited). The department services are copies
of the shipped declarations under names of this module, granted exactly as the shipped
`config/access.yaml` grants them, with their own connector worker (RabbitMQ, PostgreSQL, the
simulators over real HTTP).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from bus.envelope import decode, encode, new_envelope
from connectors.worker import REQUEST_TYPE, connector_runners
from bus.topology import COMMANDS, service_queue
from simulators.population import SEED_PEOPLE
from store.ratelimit import limit_of
from tests.conftest import client_credentials_token
from tests.support.gateway_server import GatewayStack, gateway_with_simulators
from tests.support.keycloak_users import People
from tests.support.queues import delete_queues, work_queue_names

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Grants-Test-2026x"
VICTIM = SEED_PEOPLE[0]  # holds a household register and a driving licence in the e-licence store
MARRIAGE_CERTIFICATE = "DZZZ-340100-2019-000004"  # the spouse's, a sequential id an attacker guesses


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Stack(GatewayStack):
    def __init__(self, app, gateway_url, sim_url, names):
        super().__init__(app, gateway_url, sim_url)
        self.names = names

    def call(self, token, base, operation, payload, **body):
        return self.client.post(f"/api/v1/services/{self.names[base]}/{operation}",
                                json={"payload": payload, **body}, headers=auth(token))

    def sim_calls(self, system: str, operation: str) -> int:
        return requests.get(f"{self.sim_url}/{system}/_control", timeout=5).json()["calls"].get(operation, 0)


@pytest.fixture(scope="module")
def grants(settings, db, tmp_path_factory):
    unique = uuid.uuid4().hex[:8]
    folder = tmp_path_factory.mktemp("grants-connectors")
    names = {base: f"{base}-g{unique}" for base in ("population-registry", "e-licence")}
    for base, name in names.items():
        decl = yaml.safe_load((REPO / "config" / "connectors" / f"{base}.yaml").read_text())
        decl["service"] = name
        decl["retry"] = {"attempts": 1, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    shipped = yaml.safe_load((REPO / "config" / "access.yaml").read_text())
    copied = [{**g, "service": names[g["service"]]} for g in shipped["grants"] if g["service"] in names]
    access = folder.parent / f"access-g{unique}.yaml"
    access.write_text(yaml.safe_dump({"grants": copied}, allow_unicode=True))
    tiers = settings.retry_tier_seconds
    with gateway_with_simulators(settings, connectors_dir=str(folder), access_file=str(access),
                                 service_call_timeout_seconds=12) as (app, gateway_url, sim_url), \
            pytest.MonkeyPatch.context() as env:
        env.setenv("GOVLINK_SIMULATORS_URL", sim_url)
        stack = Stack(app, gateway_url, sim_url, names)
        runners = [r.start() for r in connector_runners(stack.runtime, list(names.values()))]
        yield stack
        for r in runners:
            r.stop()
    delete_queues(settings, [q for n in names.values() for q in work_queue_names(service_queue(n, tiers))])


@pytest.fixture(scope="module")
def attacker(settings):
    """(resident ID number, mobile-app token) of a fresh L1 citizen."""
    with People(settings, PASSWORD, region="340111") as people:
        yield people.signed_in("钱")


@pytest.fixture(scope="module")
def own_licence(grants, attacker):
    """A licence of the attacker's own in the e-licence store."""
    r = requests.post(f"{grants.sim_url}/e-licence/_admin/licences", timeout=5, json={
        "licenceType": "driving_licence", "licenceName": "机动车驾驶证", "holderId": attacker[0],
        "holderName": "钱测试", "issuer": "合肥市公安局交通警察支队", "issuedOn": "2024-01-02"})
    assert r.status_code == 201, r.text
    return r.json()["licenceId"]


def test_someone_elses_licences_are_not_listed(grants, attacker):
    r = grants.call(attacker[1], "e-licence", "list-licences", {"holder_id": VICTIM.idNumber})
    assert r.status_code == 403, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "condition_not_met" and body["details"]["field"] == "payload.holder_id"
    assert VICTIM.name not in r.get_data(as_text=True)


def test_own_licences_are_listed(grants, attacker, own_licence):
    r = grants.call(attacker[1], "e-licence", "list-licences", {"holder_id": attacker[0]})
    assert r.status_code == 200, r.get_data(as_text=True)
    licences = r.get_json()["result"]["licences"]
    assert own_licence in [lic["licence_id"] for lic in licences]
    assert {lic["holder_id"] for lic in licences} == {attacker[0]}


def test_a_guessed_licence_id_returns_nothing_of_the_holder(grants, attacker, own_licence):
    r = grants.call(attacker[1], "e-licence", "get-licence", {"licence_id": MARRIAGE_CERTIFICATE})
    assert r.status_code == 404, r.get_data(as_text=True)
    text = r.get_data(as_text=True)
    assert r.get_json()["code"] == "not_found"
    assert SEED_PEOPLE[1].name not in text and SEED_PEOPLE[1].idNumber not in text and "结婚证" not in text
    # The stored outcome (what the status URL answers) does not keep the licence either.
    status = grants.client.get(f"/api/v1/services/calls/{r.get_json()['details']['call_id']}", headers=auth(attacker[1]))
    assert status.status_code == 200 and status.get_json()["result"] is None
    assert "结婚证" not in status.get_data(as_text=True)
    mine = grants.call(attacker[1], "e-licence", "get-licence", {"licence_id": own_licence})
    assert mine.status_code == 200 and mine.get_json()["result"]["holder_id"] == attacker[0]


def test_the_worker_checks_the_condition_again(grants, attacker):
    """An envelope the gateway did not check (published on the bus directly) is refused by the
    worker from the principal it carries; the department is not called."""
    service = grants.names["e-licence"]
    before = grants.sim_calls("e-licence", "ListLicences")
    attacker_claims = {"subject": str(uuid.uuid4()), "id_number": attacker[0], "acting_for": None, "level": 1}
    for principal in (attacker_claims, None):
        env = new_envelope(REQUEST_TYPE, {"holder_id": VICTIM.idNumber}, client="channel/mobile-app", service=service,
                           operation="list-licences", user=attacker_claims["subject"], principal=principal)
        _props, body = grants.runtime.publisher.request(COMMANDS, f"{service}.list-licences", encode(env),
                                                        message_id=env["message_id"],
                                                        correlation_id=env["correlation_id"], timeout=12,
                                                        type=REQUEST_TYPE)
        error = decode(body)["payload"]["error"]
        assert error["code"] in ("forbidden", "condition_not_met"), error
    assert grants.sim_calls("e-licence", "ListLicences") == before


def test_a_department_subsystem_keeps_its_unconditioned_grant(grants, settings):
    token = client_credentials_token(settings, "case-system")
    r = grants.call(token, "e-licence", "list-licences", {"holder_id": VICTIM.idNumber})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["result"]["total"] >= 2


def test_verify_identity_is_limited_to_the_callers_own_id(grants, attacker):
    r = grants.call(attacker[1], "population-registry", "verify-identity", {"name": VICTIM.name, "id_number": VICTIM.idNumber})
    assert r.status_code == 403 and r.get_json()["code"] == "condition_not_met", r.get_data(as_text=True)
    assert "match" not in r.get_data(as_text=True)
    own = grants.call(attacker[1], "population-registry", "verify-identity", {"name": "钱测试", "id_number": attacker[0]})
    assert own.status_code == 200, own.get_data(as_text=True)


def test_verify_identity_is_rate_limited_per_subject(grants, settings):
    limit = limit_of("verify-identity/subject")
    with People(settings, PASSWORD, region="340111") as people:
        resident_id, token = people.signed_in("钱")
        answers = []
        for _ in range(limit.max_hits + 1):
            r = grants.call(token, "population-registry", "verify-identity", {"name": "钱测试", "id_number": resident_id})
            answers.append(r)
            if r.status_code == 429:
                break
    assert [a.status_code for a in answers[:-1]] == [200] * limit.max_hits, [a.status_code for a in answers]
    last = answers[-1]
    assert last.status_code == 429 and last.get_json()["code"] == "rate_limited"
    assert 1 <= int(last.headers["Retry-After"]) <= limit.per_seconds


def test_someone_elses_call_status_is_not_found(grants, attacker, own_licence, settings):
    """The status URL names a call by its id: an id learnt or guessed by someone who did not make the call
    answers 404, as an id that does not exist, with nothing of its outcome."""
    mine = grants.call(attacker[1], "e-licence", "get-licence", {"licence_id": own_licence})
    assert mine.status_code == 200, mine.get_data(as_text=True)
    url = mine.get_json()["status_url"]
    assert grants.client.get(url, headers=auth(attacker[1])).status_code == 200  # the caller's own
    with People(settings, PASSWORD, region="340111") as people:
        _, stranger = people.signed_in("孙")
        r = grants.client.get(url, headers=auth(stranger))
    assert r.status_code == 404 and r.get_json()["code"] == "not_found", r.get_data(as_text=True)
    assert own_licence not in r.get_data(as_text=True) and attacker[0] not in r.get_data(as_text=True)
    missing = grants.client.get(f"/api/v1/services/calls/{uuid.uuid4()}", headers=auth(stranger))
    assert missing.status_code == 404  # the same answer as a call that does not exist: nothing to tell them apart
    assert (missing.get_json()["code"], missing.get_json()["message"]) == (r.get_json()["code"], r.get_json()["message"])


def test_a_known_token_is_held_to_the_grants_conditions_below_flask(grants, attacker, own_licence):
    """routes/call_path.py takes a call whose token was verified before. Once the attacker's token is known
    (an own call answered below Flask), naming the victim is still refused by the grant's condition; the
    refusal is Flask's, and neither department is called for it."""
    from routes.call_path import DepartmentCalls
    from tests.support.lean_paths import calls_past, layer_of

    assert grants.call(attacker[1], "e-licence", "list-licences", {"holder_id": attacker[0]}).status_code == 200
    listed, verified = grants.sim_calls("e-licence", "ListLicences"), grants.sim_calls("population", "VerifyIdentity")
    with calls_past(layer_of(grants.app, DepartmentCalls)) as to_flask:
        mine = grants.call(attacker[1], "e-licence", "list-licences", {"holder_id": attacker[0]})
        assert mine.status_code == 200 and to_flask == []  # the lean path took the known token
        theirs = grants.call(attacker[1], "e-licence", "list-licences", {"holder_id": VICTIM.idNumber})
        oracle = grants.call(attacker[1], "population-registry", "verify-identity",
                             {"name": VICTIM.name, "id_number": VICTIM.idNumber})
        assert len(to_flask) == 2
    for refused in (theirs, oracle):
        assert refused.status_code == 403 and refused.get_json()["code"] == "condition_not_met", refused.get_json()
        assert VICTIM.name not in refused.get_data(as_text=True)
    assert grants.sim_calls("e-licence", "ListLicences") == listed + 1
    assert grants.sim_calls("population", "VerifyIdentity") == verified
