"""PostgreSQL restarted under load (R12): while it is down the API answers 503
`database_unavailable` (never a 500), it recovers by itself (pool pre-ping), and no payment notice
is half-written.

The database is the chaos cluster (:5443, tests/chaos/instances.py), crashed with
`pg_ctl stop -m immediate` for 8 s while 8 threads create payment notices through the API
(agency token from the shared Keycloak, platforms simulated). Every request carries its own
Idempotency-Key; a request refused with 503 is retried with the same key once the database is
back, as a client should. Then the payment poller (the scheduler's job) finishes what the outage
interrupted, and each key must have exactly one notice, registered, whole (items add up to the
total, the key and the history are there).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

from sqlalchemy import func, select

from kernel.identifiers import make_uscc
from bootstrap.gateway import create_app
from simulators.server import run_in_thread
from store import migrate
from store.db import Database
from store.models.payment import PaymentIdempotencyKey, PaymentNotice, PaymentNoticeEvent
from tests.chaos.bus_stack import notice_body
from tests.conftest import client_credentials_token

PAYER = make_uscc(org_body="MA2N0Q8X")
THREADS = 8
BEFORE, DOWN, AFTER = 4.0, 8.0, 8.0


def test_postgres_restart_under_load(chaos_postgres, settings, chaos_report):
    database = Database(chaos_postgres.url)
    migrate.upgrade(database)
    database.dispose()
    sim_url, stop_sims = run_in_thread()
    app = create_app(settings.replace(database_url=chaos_postgres.url, simulators_url=sim_url))
    runtime = app.extensions["govlink"]
    token = client_credentials_token(settings, "case-system")
    case_prefix = f"PGCHAOS-{uuid.uuid4().hex[:6]}"
    outcomes: list[tuple[str, dict, int, str | None]] = []  # (key, body, status, code)
    lock = threading.Lock()
    stop = threading.Event()

    def post(client, key, body):
        r = client.post("/api/v1/payments", json=body,
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        return r.status_code, (r.get_json() or {}).get("code")

    def load():
        client = app.test_client()
        while not stop.is_set():
            key = f"pg-chaos-{uuid.uuid4().hex}"
            body = notice_body(PAYER, case_id=f"{case_prefix}-{uuid.uuid4().hex[:8]}")
            status, code = post(client, key, body)
            with lock:
                outcomes.append((key, body, status, code))
            if status == 503:
                time.sleep(0.25)  # a client backs off (the answer says Retry-After)

    threads = [threading.Thread(target=load) for _ in range(THREADS)]
    try:
        for t in threads:
            t.start()
        time.sleep(BEFORE)
        chaos_postgres.stop_immediate()
        down_at = time.monotonic()
        time.sleep(DOWN)
        chaos_postgres.start()
        up_at = time.monotonic()
        time.sleep(AFTER)
        stop.set()
        for t in threads:
            t.join(60)

        statuses = Counter(status for _, _, status, _ in outcomes)
        unavailable = [o for o in outcomes if o[2] == 503]
        unexpected = [o for o in outcomes if o[2] not in (201, 503)]
        assert unavailable, f"no request saw the outage: {statuses}"
        assert all(code == "database_unavailable" for _, _, _, code in unavailable), Counter(c for *_, c in unavailable)
        assert not unexpected, Counter((s, c) for _, _, s, c in unexpected)
        recovered = [o for o in outcomes[-THREADS * 3:]]
        assert all(status == 201 for _, _, status, _ in recovered), "the API did not recover by itself"

        client = app.test_client()
        retried = Counter(post(client, key, body) for key, body, status, _ in unavailable)
        assert set(retried) <= {(201, None)}, retried
        report = runtime.payments.poll(now=None)  # the scheduler's job: register what was left created

        keys = [key for key, *_ in outcomes]
        with runtime.db.unit_of_work() as session:
            notices = session.execute(select(PaymentNotice).where(PaymentNotice.case_id.like(f"{case_prefix}-%"))).scalars().all()
            key_rows = dict(session.execute(select(PaymentIdempotencyKey.key, PaymentIdempotencyKey.notice_id).where(
                PaymentIdempotencyKey.key.in_(keys))).all())
            events = dict(session.execute(select(PaymentNoticeEvent.notice_id, func.count()).where(
                PaymentNoticeEvent.notice_id.in_([n.id for n in notices])).group_by(PaymentNoticeEvent.notice_id)).all())
        per_case = Counter(n.case_id for n in notices)
        by_id = {n.id: n for n in notices}
        half_written = [n.id for n in notices if n.total_fen != sum(i["amount_fen"] for i in n.items)
                        or n.status != "registered" or not n.pay_url or events.get(n.id, 0) < 1
                        or n.id not in key_rows.values()]
        lost = [key for key in keys if key not in key_rows or key_rows[key] not in by_id]
        chaos_report("postgres-restart", sent=len(outcomes), effects=len(notices), lost=len(lost),
                     doubled=sum(c - 1 for c in per_case.values() if c > 1), answered_201=statuses[201],
                     answered_503=statuses[503], other=len(unexpected), half_written=len(half_written),
                     down_seconds=round(up_at - down_at, 1), registered_by_poller=getattr(report, "registered", "?"))
        assert not half_written, half_written[:5]
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        runtime.close()
        stop_sims()
