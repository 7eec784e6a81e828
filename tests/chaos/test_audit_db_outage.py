"""The message log through a 30-second PostgreSQL outage (R10): every envelope that went over the
bus while the database was down is in the log afterwards, and the hash chain verifies.

The database is the chaos cluster (:5443), crashed with `pg_ctl stop -m immediate`; the broker is
the chaos RabbitMQ. A sender records each envelope it publishes (`out`, as the gateway does) and a
consumer runner records each one it receives (`in`, as every worker does), both through the
message log's local spool, at about 40 envelopes a second before, during and after the outage.
Logged = an envelope found in the log in both directions.
"""
from __future__ import annotations

import threading
import time

from bus.consumer import ConsumerRunner, RetryPolicy
from bus.envelope import encode, new_envelope
from bus.publisher import Publisher
from bootstrap.runtime import Runtime
from bus.topology import COMMANDS, WorkQueue
from store import migrate
from store.db import Database
from tests.chaos.audit import audit_verify, logged_directions

BEFORE, DOWN, AFTER = 3.0, 30.0, 3.0
RATE = 40  # envelopes a second


def test_message_log_through_a_database_outage(chaos_postgres, chaos_rabbit, settings, tmp_path, unique, chaos_line):
    database = Database(chaos_postgres.url)
    migrate.upgrade(database)
    test_settings = settings.replace(database_url=chaos_postgres.url, amqp_url=chaos_rabbit.url,
                                     message_log_spool_dir=str(tmp_path / "spool"))
    sender, receiver = Runtime(test_settings, name="audit-sender"), Runtime(test_settings, name="audit-receiver")
    queue = WorkQueue(f"chaos.audit.{unique}", COMMANDS, (f"audit-{unique}.#",), (1,))
    received = set()
    runner = ConsumerRunner(chaos_rabbit.url, queue, lambda d: received.add(d.envelope["message_id"]),
                            publisher=receiver.publisher, retry=RetryPolicy(attempts=1), message_log=receiver.message_log,
                            concurrency=2).start()
    publisher = Publisher(chaos_rabbit.url, name=f"audit-{unique}").start()
    sent: list[str] = []
    stop = threading.Event()
    most_spooled = 0

    def load():
        nonlocal most_spooled
        while not stop.is_set():
            env = new_envelope("audit.chaos", {"n": len(sent)}, client="govlink/chaos", service=f"audit-{unique}",
                               operation="noop", user="340104198506150213")
            sender.message_log.record(env, "out")
            publisher.publish(COMMANDS, f"audit-{unique}.noop", encode(env), message_id=env["message_id"]).result(10)
            sent.append(env["message_id"])
            most_spooled = max(most_spooled, sender.message_log.backlog + receiver.message_log.backlog)
            time.sleep(1 / RATE)

    thread = threading.Thread(target=load)
    try:
        thread.start()
        time.sleep(BEFORE)
        chaos_postgres.stop_immediate()
        down_at = time.monotonic()
        time.sleep(DOWN)
        during = len(sent)
        chaos_postgres.start()
        down_seconds = time.monotonic() - down_at
        time.sleep(AFTER)
        stop.set()
        thread.join(30)
        deadline = time.monotonic() + 60
        while len(received) < len(set(sent)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sender.message_log.flush(60) and receiver.message_log.flush(60), "the spool was not written in time"

        found = logged_directions(database, sent)
        logged = sum(1 for mid in sent if found.get(mid, set()) >= {"in", "out"})
        ok, output = audit_verify(chaos_postgres.url)
        chaos_line("audit-db-outage", sent=len(sent), logged=logged, missing=len(sent) - logged,
                   verify="ok" if ok else "FAILED", down_seconds=round(down_seconds, 1), most_spooled=most_spooled)
        assert most_spooled > RATE * DOWN * 0.5, "the outage did not hold records back: the scenario tested nothing"
        assert during > RATE * DOWN * 0.5, "the bus did not keep going while the database was down"
        assert logged == len(sent), [mid for mid in sent if found.get(mid, set()) < {"in", "out"}][:5]
        assert ok, output
    finally:
        stop.set()
        thread.join(30)
        runner.stop()
        publisher.stop(5)
        sender.close()
        receiver.close()
        database.dispose()
