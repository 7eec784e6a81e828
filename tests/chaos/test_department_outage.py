"""A department system down (R10), shortened from a minute to 25 s: calls fail fast once the
circuit opens, messages park, the system comes back, `govlink dlq replay` delivers them all.

The department is the e-licence simulator answering HTTP 500; its service (circuit breaker: 3
failures, 5 s reset; retry tiers 1 s, 1 s) is consumed by an in-process worker on the chaos broker.
During the outage 40 calls are published on the bus and 4 made through the API (synchronous, they
must answer 503 `circuit_open`/`unavailable` quickly). Effect = a call `succeeded` after the replay,
one department call each.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from bus.envelope import encode, new_envelope
from bus.parking import ParkingLot
from connectors.worker import REQUEST_TYPE, connector_runners
from bus.topology import COMMANDS, service_queue
from kernel.identifiers import make_resident_id
from bootstrap.gateway import create_app
from simulators.server import run_in_thread
from tests.chaos.bus_stack import CASE_SYSTEM, access_file, call_outcomes, declare_service, worker_env
from tests.conftest import client_credentials_token

OUTAGE = 25.0
ON_BUS = 40
VIA_API = 4


def test_department_down_parks_and_replay_delivers(chaos_rabbit, settings, tmp_path, unique, chaos_report):
    service = f"chaos-down-{unique}"
    sim_url, stop_sims = run_in_thread()
    control = f"{sim_url}/e-licence/_control"
    directory = tmp_path / "connectors"
    declare_service(directory, service, sim_url=sim_url, breaker=(3, 5), attempts=2)
    test_settings = settings.replace(amqp_url=chaos_rabbit.url, simulators_url=sim_url, connectors_dir=str(directory),
                                     access_file=access_file(directory, service), retry_tiers="1,1",
                                     service_call_timeout_seconds=15)
    app = create_app(test_settings)
    runtime = app.extensions["govlink"]
    runners = [r.start() for r in connector_runners(runtime)]
    token = client_credentials_token(settings, "case-system")
    client = app.test_client()
    queue = service_queue(service, (1, 1))
    try:
        requests.post(control, json={"mode": "fail"}, timeout=5).raise_for_status()
        down_at = time.monotonic()
        ids, api_answers = [], []
        for i in range(ON_BUS):
            env = new_envelope(REQUEST_TYPE, {"holder_id": make_resident_id()}, client=CASE_SYSTEM, service=service,
                               operation="list-licences")
            runtime.publisher.publish(COMMANDS, f"{service}.list-licences", encode(env), message_id=env["message_id"],
                                      type=REQUEST_TYPE).result(10)
            ids.append(env["message_id"])
            if i % (ON_BUS // VIA_API) == ON_BUS // VIA_API - 1:
                started = time.monotonic()
                r = client.post(f"/api/v1/services/{service}/list-licences", json={"payload": {"holder_id": make_resident_id()}},
                                headers={"Authorization": f"Bearer {token}"})
                api_answers.append((r.status_code, (r.get_json() or {}).get("code"), time.monotonic() - started,
                                    (r.get_json() or {}).get("details", {}).get("call_id")))
            time.sleep((OUTAGE - 8) / ON_BUS)
        ids += [a[3] for a in api_answers if a[3]]
        total = len(ids)
        deadline = time.monotonic() + 30
        with ParkingLot(chaos_rabbit.url) as lot:
            while lot.count(queue.parking) < total and time.monotonic() < deadline:
                time.sleep(0.3)
            parked = lot.count(queue.parking)
        outage_state = requests.get(control, timeout=5).json()
        dept_hits = outage_state["injected"].get("fail", 0)
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        requests.post(control, json={"mode": "normal", "reset_counters": True}, timeout=5).raise_for_status()
        down_for = time.monotonic() - down_at
        time.sleep(5.5)  # the circuit's reset timeout: the next call is its trial

        env = worker_env(test_settings, directory, service, chaos_rabbit.url)
        govlink = str(Path(sys.executable).with_name("govlink"))
        replay = subprocess.run([govlink, "dlq", "replay", service], env=env, capture_output=True, text=True, timeout=120)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            outcomes = call_outcomes(runtime.db, ids)
            if sum(1 for s in outcomes.values() if s == "succeeded") == total:
                break
            time.sleep(0.3)
        time.sleep(2)
        outcomes = call_outcomes(runtime.db, ids)
        served = requests.get(control, timeout=5).json()["calls"].get("ListLicences", 0)
        succeeded = sum(1 for s in outcomes.values() if s == "succeeded")
        with ParkingLot(chaos_rabbit.url) as lot:
            left = lot.count(queue.parking)
        attempts = total * 2 * 3  # what retries would have sent without a breaker (2 tries x 3 rounds)
        chaos_report("department-outage", sent=total, effects=served, lost=total - succeeded,
                     doubled=max(0, served - total), parked=parked, replay_output=repr(replay.stdout.strip().splitlines()[-1][:40]),
                     dept_hits_while_down=dept_hits, calls_without_breaker=attempts, outage_s=round(down_for, 1),
                     left_parked=left)
        assert parked == total
        assert dept_hits < total, "the circuit never opened: every call still reached the dead department"
        assert all(status == 503 and code in ("circuit_open", "unavailable") for status, code, _, _ in api_answers), api_answers
        assert all(seconds < 10 for _, _, seconds, _ in api_answers[1:]), api_answers
        assert left == 0
    finally:
        requests.post(control, json={"mode": "normal"}, timeout=5)
        for r in runners:
            r.stop()
        runtime.close()
        stop_sims()
