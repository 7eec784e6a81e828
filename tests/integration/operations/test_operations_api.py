"""The operations API (issue 20) against the real stack: Keycloak tokens, RabbitMQ, PostgreSQL, the
simulators. A department goes down, a call parks, the operator sees the open circuit (as every worker
reports it) and the parked message, replays it after recovery, and the replay is in the audit trail;
a purge needs a reason; the message log and the scheduled jobs are there; other roles are refused."""
from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import delete, select

from bootstrap.gateway import create_app
from bus.topology import service_queue
from connectors.circuit_report import CircuitReporter
from connectors.worker import connector_runners
from kernel.identifiers import make_resident_id
from store.models.bus import MessageLogRecord, ServiceCall
from store.models.operations import ConnectorCircuit, OperatorAudit
from store.models.scheduler import ScheduledRun
from supervision.deadlines import FixedClock
from tests.conftest import client_credentials_token
from tests.support.keycloak_users import sign_in
from tests.support.queues import delete_queues, work_queue_names

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"
DEMO_PASSWORD = "Hefei-Demo-2026"  # config/realm.py demo_users()
API = "/api/v1/operations"


@pytest.fixture(scope="module")
def tokens(settings):
    return {name: sign_in(settings, name, DEMO_PASSWORD) for name in ("operator01", "finance01")}


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def ops(settings, sim, tmp_path, unique, monkeypatch, db):
    """A gateway with the shipped declarations plus a copy of population-registry that fails fast, its
    connector worker (with its circuit report) and a second worker's report that stays closed."""
    monkeypatch.setenv("GOVLINK_SIMULATORS_URL", sim.base_url)
    for path in SHIPPED.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    service = f"population-registry-{unique}"
    decl = yaml.safe_load((SHIPPED / "population-registry.yaml").read_text())
    decl["service"] = service
    decl["circuit_breaker"] = {"failure_threshold": 3, "reset_timeout_seconds": 2}
    decl["retry"] = {"attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}
    (tmp_path / f"{service}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    shipped = yaml.safe_load((SHIPPED.parent / "access.yaml").read_text())
    shipped["grants"].append({"clients": [CASE_SYSTEM], "service": service, "operations": ["*"]})
    access = tmp_path.parent / f"access-{unique}.yaml"
    access.write_text(yaml.safe_dump(shipped, allow_unicode=True))
    test_settings = settings.replace(connectors_dir=str(tmp_path), access_file=str(access), retry_tiers="1,1",
                                     service_call_timeout_seconds=12, circuit_heartbeat_seconds=0.5)
    app = create_app(test_settings)
    app.extensions["govlink_clock"] = FixedClock(datetime(2026, 12, 10, 4, tzinfo=timezone.utc))
    runtime = app.extensions["govlink"]
    runtime.connectors.get(service).check()  # its WSDL read while the department is up
    runners = [r.start() for r in connector_runners(runtime, [service])]
    reporter = CircuitReporter(runtime, worker_id=f"worker-a-{unique}").start()
    other = create_app(test_settings).extensions["govlink"]
    other_reporter = CircuitReporter(other, worker_id=f"worker-b-{unique}").start()
    yield app, runtime, service, test_settings
    for r in runners:
        r.stop()
    reporter.stop()
    other_reporter.stop()
    other.close()
    runtime.close()
    delete_queues(settings, work_queue_names(service_queue(service, (1, 1))))


def _wait(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def _park_one(app, sim, service):
    """A call while the department is down: it fails, retries, and parks."""
    sim.control("population", mode="fail")
    id_number = make_resident_id("340104", date(1988, 3, 9), 317)
    token = client_credentials_token(app.extensions["govlink"].settings, "case-system")
    case_id = f"CASE-OPS-{uuid.uuid4().hex[:8]}"
    r = app.test_client().post(f"/api/v1/services/{service}/verify-identity",
                               json={"payload": {"name": "王晓明", "id_number": id_number}, "case_id": case_id},
                               headers=_bearer(token))
    assert r.status_code == 503, r.get_json()
    return r.get_json()["details"]["call_id"], id_number, case_id, r.headers["X-Correlation-ID"]


def test_no_token_is_401_and_other_roles_are_403(ops, tokens, settings):
    app, *_ = ops
    client = app.test_client()
    assert client.get(f"{API}/services").status_code == 401
    r = client.get(f"{API}/services", headers=_bearer(tokens["finance01"]))
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"
    r = client.get(f"{API}/services", headers=_bearer(client_credentials_token(settings, "case-system")))
    assert r.status_code == 403


def test_a_service_that_is_not_declared_reaches_no_queue(ops, tokens):
    """An operator naming an undeclared service, or a queue's name dressed as one, gets 404 and moves nothing."""
    app, *_ = ops
    client = app.test_client()
    for name in ("no-such-service", "govlink.commands", "x.parking"):
        r = client.post(f"{API}/services/{name}/parked/purge", json={"reason": "probe"}, headers=_bearer(tokens["operator01"]))
        assert r.status_code == 404 and r.get_json()["code"] == "unknown_service", (name, r.get_json())
        r = client.get(f"{API}/services/{name}/parked", headers=_bearer(tokens["operator01"]))
        assert r.status_code == 404, name


def test_every_declared_service_with_kind_target_operations_and_grants(ops, tokens):
    app, runtime, service, _ = ops
    r = app.test_client().get(f"{API}/services", headers=_bearer(tokens["operator01"]))
    assert r.status_code == 200, r.get_json()
    listed = {s["service"]: s for s in r.get_json()["services"]}
    declared = {p.stem for p in SHIPPED.glob("*.yaml")}
    assert declared <= set(listed) and service in listed
    population = listed["population-registry"]
    assert population["kind"] == "soap" and population["target"]
    assert "verify-identity" in population["operations"]
    assert any(g["client"] == CASE_SYSTEM and "*" in g["operations"] or "verify-identity" in g["operations"]
               for g in population["grants"])
    assert {s["kind"] for s in listed.values()} == {"soap", "rest"}


def test_outage_parks_the_circuit_opens_for_every_worker_replay_after_recovery_is_audited(ops, sim, tokens):
    app, runtime, service, settings = ops
    client, auth = app.test_client(), _bearer(tokens["operator01"])
    call_id, id_number, case_id, _ = _park_one(app, sim, service)
    assert runtime.connectors.get(service).circuit.state == "open"

    # The circuit, as each worker reports it: worker a's breaker is open, worker b's closed.
    def circuit():
        body = client.get(f"{API}/services/{service}", headers=auth).get_json()
        workers = {w["worker_id"].split("-")[1]: w for w in body["circuit"]["workers"]}
        return body if workers.get("a", {}).get("state") == "open" and "b" in workers else None

    body = _wait(circuit)
    assert body, client.get(f"{API}/services/{service}", headers=auth).get_json()
    assert body["circuit"]["state"] == "open"  # the worst of the workers that are alive
    assert {w["state"] for w in body["circuit"]["workers"]} == {"open", "closed"}
    assert body["live"]["calls"] >= 1 and body["live"]["errors"] >= 1

    # Parked, listed and inspected with the ID number masked.
    listing = _wait(lambda: (lambda b: b if b["count"] >= 1 else None)(
        client.get(f"{API}/services/{service}/parked", headers=auth).get_json()))
    assert listing and call_id in [m["message_id"] for m in listing["messages"]]
    one = client.get(f"{API}/services/{service}/parked/messages/{call_id}", headers=auth)
    assert one.status_code == 200 and one.get_json()["case_id"] == case_id
    assert id_number not in one.get_data(as_text=True) and "verify-identity" in one.get_json()["payload"]
    assert client.get(f"{API}/services/{service}/parked/messages/{uuid.uuid4()}", headers=auth).status_code == 404

    # Recovery, then replay: the call succeeds and the replay is in the audit trail and the message log.
    sim.control("population", mode="normal")
    time.sleep(2.1)  # the circuit's reset timeout
    r = client.post(f"{API}/services/{service}/parked/replay", json={"message_id": call_id, "reason": "department back"},
                    headers=auth)
    assert r.status_code == 200 and r.get_json()["count"] == 1, r.get_json()
    done = _wait(lambda: _status(runtime, call_id) == "succeeded")
    assert done
    audit = client.get(f"{API}/audit", headers=auth).get_json()["entries"]
    mine = [e for e in audit if e["target"] == service and e["action"] == "dlq.replay"]
    assert mine and mine[0]["actor"] == "operator01" and mine[0]["count"] == 1 and mine[0]["message_id"] == call_id
    assert mine[0]["reason"] == "department back" and mine[0]["at"]
    with runtime.db.unit_of_work() as s:
        record = s.get(MessageLogRecord, mine[0]["log_seq"])
        assert record is not None and record.direction == "audit" and "dlq.replay" in record.type
    # and the breaker closed again after the successful trial: the console follows
    assert _wait(lambda: client.get(f"{API}/services/{service}", headers=auth).get_json()["circuit"]["state"] == "closed")


def _status(runtime, call_id):
    with runtime.db.unit_of_work() as s:
        return s.get(ServiceCall, call_id).status


def test_a_purge_needs_a_reason(ops, sim, tokens):
    app, runtime, service, _ = ops
    client, auth = app.test_client(), _bearer(tokens["operator01"])
    call_id, *_ = _park_one(app, sim, service)
    assert _wait(lambda: client.get(f"{API}/services/{service}/parked", headers=auth).get_json()["count"] >= 1)
    for body in ({}, {"reason": "   "}, {"message_id": call_id}):
        r = client.post(f"{API}/services/{service}/parked/purge", json=body, headers=auth)
        assert r.status_code == 422 and r.get_json()["code"] == "reason_required", r.get_json()
        assert "reason" in r.get_json()["message"]
    assert client.get(f"{API}/services/{service}/parked", headers=auth).get_json()["count"] >= 1  # nothing removed
    r = client.post(f"{API}/services/{service}/parked/purge", json={"message_id": call_id, "reason": "test data"},
                    headers=auth)
    assert r.status_code == 200 and r.get_json()["count"] == 1
    with runtime.db.unit_of_work() as s:
        row = s.execute(select(OperatorAudit).where(OperatorAudit.target == service,
                                                    OperatorAudit.action == "dlq.purge")).scalar_one()
        assert row.reason == "test data" and row.actor == "operator01" and row.count == 1


def test_a_stale_worker_is_shown_as_stale(ops, tokens):
    app, runtime, service, _ = ops
    old = datetime.now(timezone.utc) - timedelta(minutes=10)
    with runtime.db.unit_of_work() as s:
        s.add(ConnectorCircuit(worker_id="gone-worker-" + service, service=service, state="open", changed_at=old,
                               seen_at=old))
    try:
        body = app.test_client().get(f"{API}/services/{service}", headers=_bearer(tokens["operator01"])).get_json()
        gone = [w for w in body["circuit"]["workers"] if w["worker_id"].startswith("gone-worker-")]
        assert gone and gone[0]["stale"] is True
        assert body["circuit"]["state"] != "open"  # a stale worker's open circuit is not today's state
    finally:
        with runtime.db.unit_of_work() as s:
            s.execute(delete(ConnectorCircuit).where(ConnectorCircuit.worker_id == "gone-worker-" + service))


def test_message_log_search_by_case_correlation_and_message_id(ops, sim, tokens):
    app, runtime, service, _ = ops
    client, auth = app.test_client(), _bearer(tokens["operator01"])
    sim.control("population", mode="normal")
    call_id, _, case_id, correlation_id = _park_one(app, sim, service)
    assert runtime.message_log.flush(15)
    by_case = client.get(f"{API}/messages", query_string={"case_id": case_id}, headers=auth).get_json()["records"]
    assert by_case and {r["case_id"] for r in by_case} == {case_id}
    by_cid = client.get(f"{API}/messages", query_string={"correlation_id": correlation_id}, headers=auth).get_json()
    assert {r["correlation_id"] for r in by_cid["records"]} == {correlation_id}
    by_id = client.get(f"{API}/messages", query_string={"message_id": call_id}, headers=auth).get_json()["records"]
    assert by_id and all(r["message_id"] == call_id for r in by_id)
    r = client.get(f"{API}/messages", headers=auth)
    assert r.status_code == 422 and r.get_json()["code"] == "search_term_required"
    status = client.get(f"{API}/messages/verification", headers=auth).get_json()
    assert status["head_seq"] >= 1 and status["status"] in ("verified", "never_verified", "checkpoint_refused")


def test_jobs_show_their_last_run_and_a_failed_run_is_retried_and_audited(ops, tokens):
    app, runtime, _, _ = ops
    client, auth = app.test_client(), _bearer(tokens["operator01"])
    period = "2099-01-01"  # after any real period of the daily job: its latest run
    now = datetime.now(timezone.utc)
    with runtime.db.unit_of_work() as s:
        s.execute(delete(ScheduledRun).where(ScheduledRun.job == "reconcile.daily", ScheduledRun.period == period))
        s.add(ScheduledRun(job="reconcile.daily", period=period, status="failed", attempts=6, claimed_by="test",
                           started_at=now, finished_at=now, outcome="RuntimeError: statement missing"))
    try:
        jobs = {j["name"]: j for j in client.get(f"{API}/jobs", headers=auth).get_json()["jobs"]}
        assert {"reconcile.daily", "supervision.check", "payments.poll"} <= set(jobs)
        daily = jobs["reconcile.daily"]
        assert daily["last_run"]["status"] == "failed" and daily["last_run"]["period"] == period
        assert daily["next_run"] and daily["schedule"]
        alerts = client.get(f"{API}/alerts", headers=auth).get_json()["alerts"]
        assert any(a["kind"] == "job_failed" and a["subject"] == "reconcile.daily" for a in alerts)
        assert any(a["kind"] == "calendar" for a in alerts)  # 2027's holidays are not listed, on 2026-12-10

        assert client.post(f"{API}/jobs/nope/retry", json={}, headers=auth).status_code == 404
        r = client.post(f"{API}/jobs/reconcile.daily/retry", json={"period": period}, headers=auth)
        assert r.status_code == 200, r.get_json()
        with runtime.db.unit_of_work() as s:
            run = s.get(ScheduledRun, ("reconcile.daily", period))
            assert run.status == "retry" and run.attempts == 0 and run.next_attempt_at <= datetime.now(timezone.utc)
        r = client.post(f"{API}/jobs/reconcile.daily/retry", json={"period": period}, headers=auth)
        assert r.status_code == 409 and r.get_json()["code"] == "nothing_to_retry"
        audit = client.get(f"{API}/audit", headers=auth).get_json()["entries"]
        assert any(e["action"] == "job.retry" and e["target"] == f"reconcile.daily/{period}" for e in audit)
    finally:
        with runtime.db.unit_of_work() as s:
            s.execute(delete(ScheduledRun).where(ScheduledRun.job == "reconcile.daily", ScheduledRun.period == period))


def test_alerts_name_an_open_circuit_and_a_parking_lot_over_the_threshold(ops, sim, tokens):
    app, runtime, service, settings = ops
    runtime.settings = settings.replace(parking_alert_threshold=0)
    client, auth = app.test_client(), _bearer(tokens["operator01"])
    _park_one(app, sim, service)

    def alerts():
        found = client.get(f"{API}/alerts", headers=auth).get_json()["alerts"]
        kinds = {a["kind"] for a in found if a["subject"] == service}
        return found if {"circuit_open", "parking_lot"} <= kinds else None

    assert _wait(alerts), client.get(f"{API}/alerts", headers=auth).get_json()


def test_the_connectors_worker_reports_its_circuits_until_it_closes(settings, db):
    """`govlink worker connectors` (the factory the process table runs) writes a row per declared service
    for its process, and removes them when its runtime closes (a clean stop is not a stale worker)."""
    from connectors.circuit_report import default_worker_id
    from connectors.worker import worker

    runtime = create_app(settings.replace(circuit_heartbeat_seconds=0.5)).extensions["govlink"]
    runtime.name = "worker-connectors"
    mine = default_worker_id(runtime.name)
    worker(runtime, ())  # the runners are not started: only the report runs

    def rows():
        with runtime.db.unit_of_work() as s:
            return {r.service: r.state for r in s.execute(select(ConnectorCircuit).where(
                ConnectorCircuit.worker_id == mine)).scalars()}

    try:
        assert _wait(lambda: rows() == {name: "closed" for name in runtime.connectors.services()}), rows()
    finally:
        runtime.close()
    with db.unit_of_work() as s:
        assert not s.execute(select(ConnectorCircuit).where(ConnectorCircuit.worker_id == mine)).first()
