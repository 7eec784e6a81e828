"""The PostgreSQL primary crashes while payment notices are being confirmed (R12): Patroni promotes
the synchronous standby, and every notice the API confirmed (201) is there afterwards, once.

The govlink side uses the multi-host URL (`target_session_attrs=read-write`, scripts/cluster.sh env).
8 threads create payment notices through the API, each with its own Idempotency-Key; the leader's
Patroni and postmaster are SIGKILLed (the machine dies). While no member takes writes the API
answers 503 `database_unavailable`; a refused request is retried with the same key afterwards.
failover_s = seconds from the kill until a request sent after it is answered 201.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from kernel.identifiers import make_uscc
from bootstrap.gateway import create_app
from simulators.server import run_in_thread
from store import migrate
from store.db import Database
from store.models.payment import PaymentIdempotencyKey, PaymentNotice
from tests.chaos.bus_stack import notice_body
from tests.conftest import client_credentials_token

PAYER = make_uscc(org_body="MA2N0Q8Y")
THREADS = 8
BEFORE, AFTER = 4.0, 6.0


@pytest.mark.timeout(600)
def test_postgres_failover_under_payment_load(cluster, settings, cluster_line):
    url = cluster.database_url()
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    sim_url, stop_sims = run_in_thread()
    # The cluster's database and broker; tokens from the shared Keycloak (the cluster's own Keycloak
    # keeps its data in this database too, and is unready while no member takes writes).
    app = create_app(settings.replace(database_url=url, amqp_url=cluster.amqp_url(), simulators_url=sim_url))
    runtime = app.extensions["govlink"]
    token = client_credentials_token(settings, "case-system")
    case_prefix = f"PGFAIL-{uuid.uuid4().hex[:6]}"
    outcomes: list[tuple[str, dict, int, str | None, float, float]] = []  # (key, body, status, code, answered, sent)
    lock = threading.Lock()
    stop = threading.Event()

    def post(client, key, body):
        r = client.post("/api/v1/payments", json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        return r.status_code, (r.get_json() or {}).get("code")

    def load():
        client = app.test_client()
        while not stop.is_set():
            key = f"pg-fail-{uuid.uuid4().hex}"
            body = notice_body(PAYER, case_id=f"{case_prefix}-{uuid.uuid4().hex[:8]}")
            sent = time.monotonic()
            status, code = post(client, key, body)
            with lock:
                outcomes.append((key, body, status, code, time.monotonic(), sent))
            if status == 503:
                time.sleep(0.25)

    threads = [threading.Thread(target=load) for _ in range(THREADS)]
    old = cluster.patroni_leader()
    assert old, "no Patroni leader"
    try:
        for t in threads:
            t.start()
        time.sleep(BEFORE)
        killed_at = cluster.crash_postgres_member(old)
        new = cluster.wait("a new Patroni leader", 120, lambda: (cluster.patroni_leader() or "") not in ("", old) and cluster.patroni_leader())
        # failover_s: until a request sent after the kill is answered 201 (written on the new leader)
        cluster.wait("a 201 after the kill", 120, lambda: any(o[2] == 201 and o[5] > killed_at for o in list(outcomes)))
        time.sleep(AFTER)
        stop.set()
        for t in threads:
            t.join(60)
        first_after = min(o[4] for o in outcomes if o[2] == 201 and o[5] > killed_at)

        statuses = Counter(o[2] for o in outcomes)
        unexpected = [o for o in outcomes if o[2] not in (201, 503)]
        unavailable = [o for o in outcomes if o[2] == 503]
        assert not unexpected, Counter((o[2], o[3]) for o in unexpected)
        assert all(o[3] == "database_unavailable" for o in unavailable), Counter(o[3] for o in unavailable)
        client = app.test_client()
        retried = Counter(post(client, key, body) for key, body, *_ in unavailable)
        assert set(retried) <= {(201, None)}, retried
        runtime.payments.poll(now=None)

        confirmed = [o[0] for o in outcomes if o[2] == 201] + [o[0] for o in unavailable]
        with runtime.db.unit_of_work() as session:
            notices = session.execute(select(PaymentNotice).where(PaymentNotice.case_id.like(f"{case_prefix}-%"))).scalars().all()
            key_rows = dict(session.execute(select(PaymentIdempotencyKey.key, PaymentIdempotencyKey.notice_id).where(
                PaymentIdempotencyKey.key.in_(confirmed))).all())
        by_id = {n.id for n in notices}
        lost = [k for k in confirmed if key_rows.get(k) not in by_id]
        per_case = Counter(n.case_id for n in notices)
        cluster_line("cluster-postgres-failover", sent=len(confirmed), effects=len(notices), lost=len(lost),
                     doubled=sum(c - 1 for c in per_case.values() if c > 1), failover_s=round(first_after - killed_at, 1),
                     answered_201=statuses[201], answered_503=statuses[503], old_leader=old, new_leader=new)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        runtime.close()
        stop_sims()
        cluster.script("postgres")  # the crashed member comes back as the standby
