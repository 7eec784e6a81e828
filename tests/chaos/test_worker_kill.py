"""A connector worker killed with SIGKILL in the middle of a department call (R10): the message is
redelivered and its effect happens once.

The worker is a real `govlink worker connectors <service>` process on the chaos broker, one
handler thread, and the department (e-licence simulator) answers after 2 s, so the kill lands
while a call is inside the department. A second worker takes over; the unacked messages are
redelivered. Effect = the call's `service_calls` row completed (`succeeded`), once per message.
The department itself sees the interrupted request and the retried one: a killed worker never
learned the first answer, so at-least-once towards the department is what a crash can give for a
department API without idempotency keys (reported as `interrupted`).
"""
from __future__ import annotations

import os
import signal
import time

import requests

from bus.envelope import encode, new_envelope
from bus.publisher import Publisher
from connectors.worker import REQUEST_TYPE
from bus.topology import COMMANDS, declare, service_queue
from kernel.identifiers import make_resident_id
from simulators.server import run_in_thread
from store.db import Database
from tests.chaos.bus_stack import CASE_SYSTEM, call_outcomes, declare_service, start_worker, stop_worker, worker_env

CALLS = 12
KILL_AT = 3  # SIGKILL once the third call is inside the department


def test_worker_killed_mid_call(chaos_rabbit, settings, tmp_path, unique, chaos_report):
    service = f"chaos-kill-{unique}"
    sim_url, stop_sims = run_in_thread()
    control = f"{sim_url}/e-licence/_control"
    declare_service(tmp_path / "connectors", service, sim_url=sim_url, breaker=(100, 5))
    env = worker_env(settings, tmp_path / "connectors", service, chaos_rabbit.url, GOVLINK_WORKER_CONCURRENCY=1)
    declare(chaos_rabbit.url, [service_queue(service, (1, 1))])
    requests.post(control, json={"mode": "slow", "delay_seconds": 2}, timeout=5).raise_for_status()
    publisher = Publisher(chaos_rabbit.url, name=f"chaos-{unique}").start()
    db = Database(settings.database_url)
    first = second = None
    try:
        ids = []
        for _ in range(CALLS):
            env_ = new_envelope(REQUEST_TYPE, {"holder_id": make_resident_id()}, client=CASE_SYSTEM, service=service,
                                operation="list-licences")
            publisher.publish(COMMANDS, f"{service}.list-licences", encode(env_), message_id=env_["message_id"],
                              type=REQUEST_TYPE).result(10)
            ids.append(env_["message_id"])
        first = start_worker(env, tmp_path / "worker-1.log")
        deadline = time.monotonic() + 60
        while requests.get(control, timeout=5).json()["injected"].get("slow", 0) < KILL_AT:
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "worker-1.log").read_text()[-2000:]
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the 2 s the department takes
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        done_at_kill = sum(1 for s in call_outcomes(db, ids).values() if s == "succeeded")
        started_at_kill = requests.get(control, timeout=5).json()["injected"]["slow"]
        interrupted = started_at_kill - done_at_kill

        requests.post(control, json={"mode": "normal"}, timeout=5).raise_for_status()
        second = start_worker(env, tmp_path / "worker-2.log")
        deadline = time.monotonic() + 90
        while True:
            outcomes = call_outcomes(db, ids)
            if sum(1 for s in outcomes.values() if s == "succeeded") == CALLS or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        time.sleep(3)  # any stray redelivery would show up now
        outcomes = call_outcomes(db, ids)
        state = requests.get(control, timeout=5).json()
        requests_seen = state["calls"].get("ListLicences", 0)  # answered by the department, slow ones included
        succeeded = sum(1 for s in outcomes.values() if s == "succeeded")
        chaos_report("worker-sigkill", sent=CALLS, effects=succeeded, lost=CALLS - succeeded,
                     doubled=max(0, requests_seen - CALLS - interrupted), interrupted=interrupted,
                     dept_requests=requests_seen, done_before_kill=done_at_kill)
        assert interrupted == 1, (started_at_kill, done_at_kill)
    finally:
        stop_worker(first)
        stop_worker(second)
        publisher.stop(5)
        db.dispose()
        stop_sims()
