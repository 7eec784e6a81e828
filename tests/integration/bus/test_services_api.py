"""Flow 3 end to end: gateway -> RabbitMQ -> connector worker -> SOAP/REST simulators -> reply.

Each test gets department services of its own (the shipped declarations copied under unique
names, with short retry tiers), so its queues, circuit breakers and retries touch no other test.
"""
import json
import os
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text

from bus.envelope import encode, new_envelope
from connectors.worker import REQUEST_TYPE, connector_runners
from bus.topology import COMMANDS, service_queue
from kernel.identifiers import make_resident_id
from bootstrap.gateway import create_app
from store.models.bus import MessageLogRecord, ServiceCall
from tests.conftest import client_credentials_token
from tests.support.queues import delete_queues, work_queue_names

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"


class Dept:
    """The gateway app with its own copies of the department services, and their worker."""

    def __init__(self, app, runners, names, settings):
        self.app, self.runners, self.names, self.settings = app, runners, names, settings
        self.client = app.test_client()
        self.runtime = app.extensions["govlink"]

    def call(self, token, service, operation, payload, **headers):
        return self.client.post(f"/api/v1/services/{self.names[service]}/{operation}", json={"payload": payload},
                                headers={"Authorization": f"Bearer {token}", **headers})


@pytest.fixture()
def dept(settings, sim, tmp_path, unique, monkeypatch, db):
    monkeypatch.setenv("GOVLINK_SIMULATORS_URL", sim.base_url)
    names = {}
    for base in ("population-registry", "enterprise-registry", "e-licence"):
        decl = yaml.safe_load((SHIPPED / f"{base}.yaml").read_text())
        name = f"{base}-{unique}"
        decl["service"] = name
        decl["circuit_breaker"] = {"failure_threshold": 3, "reset_timeout_seconds": 2}
        decl["retry"] = {"attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
        names[base] = name
    grants = [{"clients": [CASE_SYSTEM], "service": n, "operations": ["*"]} for n in names.values()]
    (tmp_path.parent / f"access-{unique}.yaml").write_text(yaml.safe_dump({"grants": grants}))
    test_settings = settings.replace(connectors_dir=str(tmp_path), access_file=str(tmp_path.parent / f"access-{unique}.yaml"),
                                     retry_tiers="1,1", service_call_timeout_seconds=12)
    app = create_app(test_settings)
    runtime = app.extensions["govlink"]
    runners = [r.start() for r in connector_runners(runtime)]
    yield Dept(app, runners, names, test_settings)
    for r in runners:
        r.stop()
    runtime.close()
    delete_queues(settings, [name for n in names.values() for name in work_queue_names(service_queue(n, (1, 1)))])


@pytest.fixture(scope="module")
def token(settings):
    return client_credentials_token(settings, "case-system")


def _person(sim, name="王晓明"):
    id_number = make_resident_id("340104", date(1988, 3, 9), 317)
    sim.admin("/population/_admin/people", {"name": name, "idNumber": id_number})
    return name, id_number


def test_soap_call_round_trips_through_the_bus_and_is_logged(dept, sim, token):
    name, id_number = _person(sim)
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "succeeded" and body["result"]["match"] is True
    assert r.headers["X-Correlation-ID"]
    status = dept.client.get(body["status_url"], headers={"Authorization": f"Bearer {token}"}).get_json()
    assert status["status"] == "succeeded" and status["result"]["match"] is True
    dept.runtime.message_log.flush()
    with dept.runtime.db.unit_of_work() as s:
        records = s.execute(select(MessageLogRecord).where(MessageLogRecord.correlation_id == r.headers["X-Correlation-ID"])).scalars().all()
    directions = sorted(rec.direction for rec in records)
    assert directions.count("out") >= 2 and directions.count("in") >= 2  # request and reply, each side
    assert all(id_number not in (rec.user_masked or "") + (rec.client or "") for rec in records)


def test_a_call_builds_its_status_url_once(dept, sim, token, monkeypatch):
    """`url_for` is some 2 % of the gateway's CPU per department call (issue 18's service_call): the
    answer's status URL (body, Location, a timeout's details) is built once, not again for the view.
    The first call goes through Flask, the second (a known token) through routes.call_path."""
    import routes.api.services as services_api
    from routes.call_path import DepartmentCalls

    built = []
    real = services_api._status_url
    monkeypatch.setattr(services_api, "_status_url", lambda call_id: built.append(call_id) or real(call_id))
    lean = DepartmentCalls._status_url
    monkeypatch.setattr(DepartmentCalls, "_status_url", lambda self, environ: (
        lambda call_id, build=lean(self, environ): built.append(call_id) or build(call_id)))
    name, id_number = _person(sim)
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number})
    assert r.status_code == 200
    assert r.get_json()["status_url"] == r.headers["Location"] == f"/api/v1/services/calls/{r.get_json()['call_id']}"
    assert built == [r.get_json()["call_id"]]
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number},
                  Prefer="respond-async")
    assert r.status_code == 202 and r.get_json()["status_url"] == r.headers["Location"]
    assert built[1:] == [r.get_json()["call_id"]]


def test_async_call_answers_202_with_a_status_url(dept, sim, token):
    name, id_number = _person(sim)
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number},
                  Prefer="respond-async")
    assert r.status_code == 202 and r.get_json()["status"] == "accepted"
    url = r.headers["Location"]
    for _ in range(100):
        status = dept.client.get(url, headers={"Authorization": f"Bearer {token}"}).get_json()
        if status["status"] != "accepted":
            break
        time.sleep(0.1)
    assert status["status"] == "succeeded" and status["result"]["match"] is True
    # The outcome is in the message log although nobody waits on a reply queue: supervision closes
    # the call's step from it (without it, every async call became a false overdue warning).
    message_id = url.rstrip("/").rsplit("/", 1)[-1]
    deadline = time.monotonic() + 10
    outcome = []
    while not outcome and time.monotonic() < deadline:
        dept.runtime.message_log.flush()
        with dept.runtime.db.unit_of_work() as s:
            outcome = [json.loads(body) for body in s.execute(
                select(MessageLogRecord.body).where(MessageLogRecord.correlation_id == r.headers["X-Correlation-ID"],
                                                    MessageLogRecord.type == "service.result")).scalars()]
        time.sleep(0.1)
    assert outcome and all(e["causation_id"] == message_id for e in outcome)


def test_soap_fault_maps_to_a_clear_api_error(dept, sim, token):
    name, id_number = _person(sim)
    assert dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number}).status_code == 200
    sim.control("population", mode="fault")
    r = dept.call(token, "population-registry", "verify-identity", {"name": "张三", "id_number": make_resident_id()})
    body = r.get_json()
    assert r.status_code == 502 and body["code"] == "fault"
    assert body["message"] and body["details"]["call_id"]


def test_slow_system_hits_the_timeout(dept, sim, token):
    sim.control("population", mode="slow", delay_seconds=20)
    dept.runtime.settings = dept.settings.replace(service_call_timeout_seconds=2)
    started = time.monotonic()
    r = dept.call(token, "population-registry", "verify-identity", {"name": "张三", "id_number": make_resident_id()})
    assert time.monotonic() - started < 6
    assert r.status_code == 504 and r.get_json()["code"] == "timeout"
    assert r.get_json()["details"]["status_url"].startswith("/api/v1/services/calls/")


def test_the_workers_call_is_cut_at_the_callers_remaining_time(dept, sim, token):
    """The envelope carries the caller's deadline: the worker gives the department only the time
    left (here about 2 s), not the declaration's 5 s, and the caller gets `timeout` within its time."""
    sim.control("population", mode="slow", delay_seconds=20)
    dept.runtime.settings = dept.settings.replace(service_call_timeout_seconds=2)
    connector = dept.runtime.connectors.get(dept.names["population-registry"])
    assert connector.declaration.timeout_seconds == 5
    calls, real_call = [], connector.call

    def timed_call(operation, payload, *, timeout=None):  # the real call, its timeout and duration noted
        started = time.monotonic()
        try:
            return real_call(operation, payload, timeout=timeout)
        finally:
            calls.append((timeout, time.monotonic() - started))

    connector.call = timed_call
    try:
        started = time.monotonic()
        r = dept.call(token, "population-registry", "verify-identity", {"name": "张三", "id_number": make_resident_id()})
        waited = time.monotonic() - started
        assert r.status_code == 504 and r.get_json()["code"] == "timeout" and waited < 3.5
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        connector.call = real_call
    timeout, took = calls[0]
    assert timeout is not None and 0 < timeout <= 2.0
    assert took < 3.5  # cut at the caller's remaining time, not the declared 5 s


def test_dead_system_opens_the_circuit_parks_and_replay_delivers(dept, sim, token, settings):
    sim.control("population", mode="fail")
    name, id_number = _person(sim)
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number})
    body = r.get_json()
    assert r.status_code == 503 and body["code"] in ("circuit_open", "unavailable"), body
    calls_when_parked = sim.state("population")["injected"].get("fail", 0)
    assert calls_when_parked <= 3  # the circuit opened after 3 failures: later attempts never reached it
    service = dept.names["population-registry"]
    sim.control("population", mode="normal")
    time.sleep(2.1)  # the circuit's reset timeout
    env = dict(os.environ, GOVLINK_CONNECTORS_DIR=dept.settings.connectors_dir,
               GOVLINK_ACCESS_FILE=dept.settings.access_file, GOVLINK_SIMULATORS_URL=sim.base_url,
               GOVLINK_RETRY_TIERS="1,1", GOVLINK_LOG_JSON="false")
    shown = subprocess.run(["govlink", "dlq", "show", service], env=env, capture_output=True, text=True, timeout=60)
    assert body["details"]["call_id"] in shown.stdout and ("circuit_open" in shown.stdout or "unavailable" in shown.stdout)
    assert id_number not in shown.stdout
    replay = subprocess.run(["govlink", "dlq", "replay", service], env=env, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and "replayed 1 message" in replay.stdout, replay.stdout + replay.stderr
    call_id = body["details"]["call_id"]
    for _ in range(100):
        with dept.runtime.db.unit_of_work() as s:
            call = s.get(ServiceCall, call_id)
            if call.status == "succeeded":
                break
        time.sleep(0.1)
    assert call.status == "succeeded" and json.loads(call.result)["match"] is True


def test_duplicate_delivery_has_one_effect(dept, sim, token):
    name, id_number = _person(sim)
    service = dept.names["population-registry"]
    env = new_envelope(REQUEST_TYPE, {"name": name, "id_number": id_number}, client=CASE_SYSTEM, service=service,
                       operation="verify-identity")
    before = sim.calls("population", "VerifyIdentity")
    for _ in range(3):
        dept.runtime.publisher.publish(COMMANDS, f"{service}.verify-identity", encode(env), message_id=env["message_id"]).result(10)
    for _ in range(100):
        if sum(r.stats["handled"] for r in dept.runners) >= 3:
            break
        time.sleep(0.1)
    assert sum(r.stats["handled"] for r in dept.runners) == 3
    assert sim.calls("population", "VerifyIdentity") - before == 1


def test_forbidden_caller_gets_403(dept, settings):
    gateway_token = client_credentials_token(settings, settings.gateway_client_id)
    r = dept.call(gateway_token, "population-registry", "verify-identity", {"name": "x", "id_number": make_resident_id()})
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"


def test_no_token_gets_401(dept):
    r = dept.client.post(f"/api/v1/services/{dept.names['population-registry']}/verify-identity", json={"payload": {}})
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]


def test_gbk_response_decodes_correctly(dept, sim, token):
    name, id_number = _person(sim, name="欧阳娜娜")
    sim.control("population", encoding="GBK")
    r = dept.call(token, "population-registry", "get-household", {"id_number": id_number})
    assert r.status_code == 200, r.get_json()
    members = r.get_json()["result"]["members"]
    assert "欧阳娜娜" in [m["name"] for m in members]


def test_rest_service_through_the_bus(dept, sim, token):
    r = dept.call(token, "e-licence", "list-licences", {"holder_id": make_resident_id()})
    assert r.status_code == 200, r.get_json()


def test_audit_verify_detects_an_altered_record(dept, sim, token, settings):
    name, id_number = _person(sim)
    dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number})
    dept.runtime.message_log.flush()
    env = dict(os.environ, GOVLINK_LOG_JSON="false")
    ok = subprocess.run(["govlink", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    with dept.runtime.db.unit_of_work() as s:
        seq, original = s.execute(text("SELECT seq, type FROM message_log ORDER BY seq DESC LIMIT 1")).one()
        s.execute(text("UPDATE message_log SET type = 'service.forged' WHERE seq = :s"), {"s": seq})
    try:
        bad = subprocess.run(["govlink", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1 and f"record {seq} was altered" in bad.stderr
    finally:
        with dept.runtime.db.unit_of_work() as s:
            s.execute(text("UPDATE message_log SET type = :t WHERE seq = :s"), {"t": original, "s": seq})


# The lean path (routes/call_path.py): a call with a token the gateway verified before is answered below
# Flask, by the same use case and schemas; anything it cannot take plainly goes to Flask untouched.

@pytest.fixture()
def flask_calls(dept):
    """The paths of the requests that went past routes.call_path into Flask."""
    from routes.call_path import DepartmentCalls
    from tests.support.lean_paths import calls_past, layer_of

    with calls_past(layer_of(dept.app, DepartmentCalls)) as calls:
        yield calls


def test_a_call_with_a_known_token_is_answered_below_flask_as_flask_answers(dept, sim, token, flask_calls):
    from prometheus_client import REGISTRY

    name, id_number = _person(sim)
    payload = {"name": name, "id_number": id_number}
    first = dept.call(token, "population-registry", "verify-identity", payload)
    assert first.status_code == 200 and len(flask_calls) == 1  # the token is verified in Flask
    labels = {"method": "POST", "endpoint": "/api/v1/services/<string:service>/<string:operation>", "status": "200"}
    counted = REGISTRY.get_sample_value("govlink_http_requests_total", labels)
    second = dept.call(token, "population-registry", "verify-identity", payload, **{"X-Correlation-ID": "lean-call-0001"})
    assert second.status_code == 200 and len(flask_calls) == 1  # Flask not reached again
    a, b = first.get_json(), second.get_json()
    assert b["result"] == a["result"] and b["result"]["match"] is True and b["status"] == "succeeded" and b["call_id"] != a["call_id"]
    assert sorted(a) == sorted(b) and b["service"] == dept.names["population-registry"]
    assert b["status_url"] == second.headers["Location"] == f"/api/v1/services/calls/{b['call_id']}"
    for header in ("Content-Type", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert second.headers[header] == first.headers[header]
    assert sorted(second.headers.keys()) == sorted(first.headers.keys())
    assert second.headers["X-Correlation-ID"] == "lean-call-0001"
    assert REGISTRY.get_sample_value("govlink_http_requests_total", labels) == counted + 1
    # The same use case: the call is recorded, readable at its status URL, and logged under the correlation id.
    status = dept.client.get(b["status_url"], headers={"Authorization": f"Bearer {token}"}).get_json()
    assert status["status"] == "succeeded" and status["result"] == b["result"]
    dept.runtime.message_log.flush()
    with dept.runtime.db.unit_of_work() as s:
        logged = s.execute(select(MessageLogRecord.direction).where(
            MessageLogRecord.correlation_id == "lean-call-0001")).scalars().all()
    assert sorted(logged).count("out") >= 2 and sorted(logged).count("in") >= 2


def test_what_the_lean_path_cannot_take_plainly_goes_to_flask(dept, sim, token, flask_calls):
    from routes.call_path import DepartmentCalls
    from tests.support.lean_paths import layer_of

    name, id_number = _person(sim)
    payload = {"name": name, "id_number": id_number}
    assert dept.call(token, "population-registry", "verify-identity", payload).status_code == 200
    url = f"/api/v1/services/{dept.names['population-registry']}/verify-identity"
    auth = {"Authorization": f"Bearer {token}"}
    cases = [  # (request, status, code): each is answered by Flask, as it always was
        (dict(data='{"payload": {}}', headers={**auth, "Content-Type": "text/plain"}), 415, "unsupported_media_type"),
        (dict(data="{not json", headers={**auth, "Content-Type": "application/json"}), 400, None),
        (dict(json={"payload": payload, "extra": 1}, headers=auth), 422, "validation_failed"),
        (dict(json={"case_id": "C-1"}, headers=auth), 422, "validation_failed"),
        (dict(json=["payload"], headers=auth), 422, "validation_failed"),
        (dict(json={"payload": payload}, headers={"Authorization": "Bearer not-a-token"}), 401, "invalid_token"),
    ]
    for n, (request, status, code) in enumerate(cases, start=2):
        r = dept.client.post(url, **request)
        assert r.status_code == status and (code is None or r.get_json()["code"] == code), (request, r.get_json())
        assert len(flask_calls) == n and r.headers["X-Correlation-ID"]
    # The body Flask reads is the one the lean path read first: it names the unknown field.
    r = dept.client.post(url, json={"payload": payload, "extra": 1}, headers=auth)
    assert "extra" in str(r.get_json()["details"])
    for service, operation, code in ((f"no-such-{dept.names['e-licence']}", "verify-identity", "unknown_service"),
                                     (dept.names["population-registry"], "no-such-operation", "unknown_operation")):
        before = len(flask_calls)
        r = dept.client.post(f"/api/v1/services/{service}/{operation}", json={"payload": payload}, headers=auth)
        assert r.status_code == 404 and r.get_json()["code"] == code and len(flask_calls) == before + 1
    lean = layer_of(dept.app, DepartmentCalls)
    kept = lean.requirements  # should the route come to need a scope, the lean path leaves the caller to Flask
    lean.requirements = {**kept, "scopes": ("no-such-scope",)}
    before = len(flask_calls)
    try:
        assert dept.client.post(url, json={"payload": payload}, headers=auth).status_code == 200
    finally:
        lean.requirements = kept
    assert len(flask_calls) == before + 1
    before = len(flask_calls)
    dept.client.set_cookie("session", "x")  # a signed-in console's request: Flask's
    assert dept.client.post(url, json={"payload": payload}, headers=auth).status_code == 200
    assert len(flask_calls) == before + 1


def test_a_failure_after_the_call_is_recorded_is_answered_by_flasks_error_handler(dept, sim, token, flask_calls):
    name, id_number = _person(sim)
    ok = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number})
    assert ok.status_code == 200 and len(flask_calls) == 1
    sim.control("population", mode="fault")
    r = dept.call(token, "population-registry", "verify-identity", {"name": name, "id_number": id_number},
                  **{"X-Correlation-ID": "lean-fault-0001"})
    body = r.get_json()
    assert r.status_code == 502 and body["code"] == "fault" and len(flask_calls) == 1  # not handed to Flask
    assert body["correlation_id"] == r.headers["X-Correlation-ID"] == "lean-fault-0001"
    assert body["message"] and body["details"]["call_id"]
    assert r.headers["Content-Type"] == "application/json" and r.headers["X-Content-Type-Options"] == "nosniff"
    status = dept.client.get(f"/api/v1/services/calls/{body['details']['call_id']}",
                             headers={"Authorization": f"Bearer {token}"}).get_json()
    assert status["status"] == "failed" and status["error"]["code"] == "fault"
