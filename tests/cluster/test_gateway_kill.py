"""One of the two gateways is SIGKILLed under load behind HAProxy (R12): requests go on through the
other, and every call a gateway accepted (202) has exactly one effect at the department.

4 clients send asynchronous service calls (e-licence list-licences, `Prefer: respond-async`) to the
proxy (:8700) with a token from the cluster's Keycloak; gateway 1 is killed after a few seconds.
A request the dying gateway had not answered fails at the client (502, counted as refused, never
retried by the proxy: it may have been taken); lost = accepted calls without a succeeded row.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import requests
from sqlalchemy import func, select

from kernel.identifiers import make_resident_id
from store.db import Database
from store.models.bus import ServiceCall
from tests.chaos.bus_stack import call_outcomes
from tests.conftest import client_credentials_token

CLIENTS = 4
BEFORE, AFTER = 5.0, 10.0


def test_gateway_kill_under_load(cluster, settings, cluster_line):
    cs = cluster.cluster_settings(settings)
    proxy = f"http://127.0.0.1:{cluster.ENV['HAPROXY_GATEWAY_PORT']}"
    sims = f"http://127.0.0.1:{cluster.ENV['CLUSTER_SIM_PORT']}"
    token = client_credentials_token(cs, "case-system")
    db = Database(cs.database_url)
    started = datetime.now(timezone.utc)
    served_before = requests.get(f"{sims}/e-licence/_control", timeout=5).json()["calls"].get("ListLicences", 0)
    accepted: list[str] = []
    refused: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load():
        http = requests.Session()
        while not stop.is_set():
            try:
                r = http.post(f"{proxy}/api/v1/services/e-licence/list-licences", json={"payload": {"holder_id": make_resident_id()}},
                              headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"}, timeout=30)
                status, body = r.status_code, (r.json() if r.headers.get("content-type", "").startswith("application/json") else {})
            except requests.RequestException:
                status, body = 0, {}
            with lock:
                (accepted.append(body["call_id"]) if status == 202 else refused.append(status))

    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        time.sleep(BEFORE)
        before_kill = len(accepted)
        cluster.kill("gateway-1")
        time.sleep(AFTER)
        stop.set()
        for t in threads:
            t.join(60)
        after_kill = len(accepted) - before_kill

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            outcomes = call_outcomes(db, accepted)
            if sum(1 for s in outcomes.values() if s == "succeeded") >= len(accepted):
                break
            time.sleep(2)
        time.sleep(3)
        outcomes = call_outcomes(db, accepted)
        with db.unit_of_work() as session:
            all_succeeded = session.execute(select(func.count()).select_from(ServiceCall).where(
                ServiceCall.service == "e-licence", ServiceCall.status == "succeeded",
                ServiceCall.created_at >= started)).scalar_one()
        served = requests.get(f"{sims}/e-licence/_control", timeout=5).json()["calls"].get("ListLicences", 0) - served_before
        effects = sum(1 for s in outcomes.values() if s == "succeeded")
        cluster_line("cluster-gateway-kill", sent=len(accepted), effects=effects, lost=len(accepted) - effects,
                     doubled=max(0, served - all_succeeded), refused=len(refused), accepted_after_kill=after_kill)
        assert after_kill > 0, "nothing was accepted through the surviving gateway"
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        db.dispose()
        cluster.script("govlink")  # the killed gateway starts again
