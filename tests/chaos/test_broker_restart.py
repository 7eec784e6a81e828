"""RabbitMQ restarted while 20,000 envelopes are in flight (R10, R12): every accepted request has
exactly one effect at the department, none lost, none doubled.

The broker is the chaos node (:5683), crashed with SIGKILL and started again on the same data while
the calls are still being published and the worker is busy with them. 200 calls go through the
gateway's API (`Prefer: respond-async`, the gateway records and publishes them); the other 19,800
are `service.call` envelopes published straight on the bus with `bus.publisher.Publisher` (the
API path at this volume would only measure Flask). A call is accepted when the broker confirmed it.
Effect = a call served by the department simulator (its counter) with the call's row `succeeded`.
"""
from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from bus.envelope import encode, new_envelope
from bus.publisher import Publisher
from connectors.worker import REQUEST_TYPE
from bus.topology import COMMANDS, declare, service_queue
from kernel.identifiers import make_resident_id
from bootstrap.gateway import create_app
from simulators.server import run_in_thread
from store.models.bus import ServiceCall
from tests.chaos.bus_stack import CASE_SYSTEM, access_file, call_outcomes, declare_service, start_worker, stop_worker, \
    succeeded as count_succeeded, worker_env
from tests.conftest import client_credentials_token

TOTAL = 20_000
VIA_API = 200
RATE = 1_000  # envelopes per second on the bus: publishing is still going on when the broker dies
KILL_AFTER = 6.0
WORKERS = 2  # `govlink worker connectors` processes (a process each: one GIL each)


@pytest.mark.timeout(900)
def test_broker_restart_with_20000_in_flight(chaos_rabbit, settings, db, tmp_path, unique, chaos_report):
    service = f"chaos-bus-{unique}"
    sim_url, stop_sims = run_in_thread()
    declare_service(tmp_path / "connectors", service, sim_url=sim_url, breaker=(1000, 5))
    test_settings = settings.replace(amqp_url=chaos_rabbit.url, simulators_url=sim_url,
                                     connectors_dir=str(tmp_path / "connectors"),
                                     access_file=access_file(tmp_path / "connectors", service),
                                     retry_tiers="1,1,1", worker_concurrency=8)
    app = create_app(test_settings)
    runtime = app.extensions["govlink"]
    declare(chaos_rabbit.url, [service_queue(service, test_settings.retry_tier_seconds)])
    env = worker_env(settings, tmp_path / "connectors", service, chaos_rabbit.url, GOVLINK_WORKER_CONCURRENCY=8,
                     GOVLINK_RETRY_TIERS="1,1,1")
    workers = [start_worker(env, tmp_path / f"worker-{i}.log") for i in range(WORKERS)]
    publisher = Publisher(chaos_rabbit.url, name=f"chaos-{unique}").start()
    token = client_credentials_token(settings, "case-system")
    client = app.test_client()
    holder = make_resident_id()
    futures: dict[str, object] = {}
    api_accepted: list[str] = []
    api_refused: list[tuple[int, str]] = []

    def publish_direct():
        started = time.monotonic()
        for i in range(TOTAL - VIA_API):
            env = new_envelope(REQUEST_TYPE, {"holder_id": holder}, client=CASE_SYSTEM, service=service,
                               operation="list-licences")
            futures[env["message_id"]] = publisher.publish(COMMANDS, f"{service}.list-licences", encode(env),
                                                           message_id=env["message_id"], type=REQUEST_TYPE)
            ahead = (i + 1) / RATE - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def through_api():
        for _ in range(VIA_API):
            r = client.post(f"/api/v1/services/{service}/list-licences", json={"payload": {"holder_id": holder}},
                            headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"})
            if r.status_code == 202:
                api_accepted.append(r.get_json()["call_id"])
            else:
                api_refused.append((r.status_code, (r.get_json() or {}).get("code")))
            time.sleep(0.05)

    try:
        senders = [threading.Thread(target=publish_direct), threading.Thread(target=through_api)]
        for t in senders:
            t.start()
        time.sleep(KILL_AFTER)
        handled_before = count_succeeded(runtime.db, service)
        down = chaos_rabbit.restart(down_seconds=2)
        for t in senders:
            t.join(180)

        accepted_direct, refused_direct = [], 0
        for message_id, future in futures.items():
            try:
                future.result(120)
                accepted_direct.append(message_id)
            except Exception:
                refused_direct += 1
        accepted = accepted_direct + api_accepted

        deadline = time.monotonic() + 420
        while count_succeeded(runtime.db, service) < len(accepted) and time.monotonic() < deadline:
            time.sleep(3)
        time.sleep(3)  # let redelivered copies settle, to count any doubles
        outcomes = call_outcomes(runtime.db, accepted)
        with runtime.db.unit_of_work() as session:  # every call of the service, also those the API refused
            all_succeeded = session.execute(select(func.count()).select_from(ServiceCall).where(
                ServiceCall.service == service, ServiceCall.status == "succeeded")).scalar_one()
        served = requests.get(f"{sim_url}/e-licence/_control", timeout=5).json()["calls"].get("ListLicences", 0)
        succeeded = sum(1 for s in outcomes.values() if s == "succeeded")
        lost = len(accepted) - succeeded
        doubled = max(0, served - all_succeeded)  # a department call beyond one per call
        chaos_report("rabbitmq-restart", sent=TOTAL, effects=served, lost=lost, doubled=doubled,
                     accepted=len(accepted), via_api=len(api_accepted), refused=refused_direct + len(api_refused),
                     handled_before_kill=handled_before, broker_down_s=round(down, 1),
                     publisher_reconnects=publisher.reconnects)
        assert not api_refused or all(code == "bus_unavailable" for _, code in api_refused), api_refused
    finally:
        publisher.stop(5)
        for w in workers:
            stop_worker(w)
        runtime.close()
        stop_sims()
