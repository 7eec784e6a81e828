"""The real RabbitMQ: confirms, retries, parking lot and replay, idempotency, request-reply."""
import threading
import time

import pytest

from bus.consumer import ConsumerRunner, RetryPolicy
from bus.envelope import encode, new_envelope
from bus.errors import HandlerError, RequestTimeout, Unroutable
from bus.idempotency import handle_once
from bus.parking import ParkingLot
from bus.publisher import Publisher
from bus.topology import COMMANDS, WorkQueue, declare
from tests.support.queues import delete_queues, work_queue_names


@pytest.fixture()
def publisher(settings):
    p = Publisher(settings.amqp_url, name="test-publisher", reply_queue=True).start()
    yield p
    p.stop()


@pytest.fixture()
def queue(settings, unique):
    q = WorkQueue(f"test.{unique}", COMMANDS, (f"t{unique}.#",), retry_tiers=(1, 1))
    yield q
    delete_queues(settings, work_queue_names(q))


def _env(unique, payload=None):
    return new_envelope("service.call", payload or {}, client="channel/web-portal", service="population-registry",
                        operation="VerifyIdentity")


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_unroutable_message_fails_its_future(settings, publisher, unique):
    declare(settings.amqp_url, [])  # the exchange exists (as every process declares it), only the route is missing
    with pytest.raises(Unroutable):
        publisher.publish(COMMANDS, f"nobody-{unique}.op", b"{}").result(10)


def test_transient_failures_go_through_retry_tiers_then_park_and_replay_delivers(settings, db, publisher, queue,
                                                                                 unique):
    attempts = []
    healthy = threading.Event()

    def handler(delivery):
        attempts.append(delivery.retries)
        if not healthy.is_set():
            raise HandlerError("unavailable", "the department system is down", transient=True)
        return None

    runner = ConsumerRunner(settings.amqp_url, queue, handler, publisher=publisher, concurrency=2,
                            retry=RetryPolicy(attempts=2, backoff_seconds=0.01)).start()
    try:
        env = _env(unique)
        publisher.publish(COMMANDS, f"t{unique}.op", encode(env), message_id=env["message_id"]).result(10)
        with ParkingLot(settings.amqp_url) as lot:
            assert _wait(lambda: lot.count(queue.parking) == 1, 30), "message was not parked"
            parked = lot.show(queue.parking)
        # 2 in-process attempts on each of: the first delivery and two retry tiers
        assert attempts == [0, 0, 1, 1, 2, 2]
        assert parked[0].message_id == env["message_id"]
        assert parked[0].failure_code == "unavailable" and parked[0].retries == 2
        healthy.set()
        with ParkingLot(settings.amqp_url, db) as lot:
            assert lot.replay(queue.parking, queue.name, operator="test-operator") == 1
            assert _wait(lambda: runner.stats["handled"] == 1)
            assert lot.count(queue.parking) == 0
    finally:
        runner.stop()


def test_permanent_failure_parks_at_once_with_cause(settings, publisher, queue, unique):
    def handler(delivery):
        raise HandlerError("forbidden", "client may not call this service", transient=False)

    runner = ConsumerRunner(settings.amqp_url, queue, handler, publisher=publisher).start()
    try:
        env = _env(unique)
        publisher.publish(COMMANDS, f"t{unique}.op", encode(env), message_id=env["message_id"]).result(10)
        with ParkingLot(settings.amqp_url) as lot:
            assert _wait(lambda: lot.count(queue.parking) == 1)
            assert lot.show(queue.parking)[0].failure_code == "forbidden"
        assert runner.stats["retried"] == 0
    finally:
        runner.stop()


def test_malformed_envelope_is_parked_not_dropped_and_worker_survives(settings, publisher, queue, unique):
    handled = []
    runner = ConsumerRunner(settings.amqp_url, queue, lambda d: handled.append(d), publisher=publisher).start()
    try:
        publisher.publish(COMMANDS, f"t{unique}.op", b'{"not": "an envelope"}').result(10)
        publisher.publish(COMMANDS, f"t{unique}.op", b"\x00\xff garbage").result(10)
        good = _env(unique)
        publisher.publish(COMMANDS, f"t{unique}.op", encode(good), message_id=good["message_id"]).result(10)
        assert _wait(lambda: len(handled) == 1)
        with ParkingLot(settings.amqp_url) as lot:
            assert _wait(lambda: lot.count(queue.parking) == 2)
            causes = {p.failure_code for p in lot.show(queue.parking)}
        assert causes == {"invalid_envelope"}
    finally:
        runner.stop()


def test_request_reply_with_correlation_and_timeout(settings, publisher, queue, unique):
    def handler(delivery):
        if delivery.envelope["payload"].get("slow"):
            time.sleep(3)
        return {"echo": delivery.envelope["payload"]}

    runner = ConsumerRunner(settings.amqp_url, queue, handler, publisher=publisher).start()
    try:
        env = _env(unique, {"n": 7})
        props, body = publisher.request(COMMANDS, f"t{unique}.op", encode(env), message_id=env["message_id"], timeout=10)
        from bus.envelope import decode

        reply = decode(body)
        assert reply["payload"] == {"echo": {"n": 7}}
        assert reply["causation_id"] == env["message_id"] and reply["correlation_id"] == env["correlation_id"]
        slow = _env(unique, {"slow": True})
        with pytest.raises(RequestTimeout):
            publisher.request(COMMANDS, f"t{unique}.op", encode(slow), message_id=slow["message_id"], timeout=1)
    finally:
        runner.stop()


def test_duplicate_delivery_has_one_effect(settings, db, publisher, queue, unique):
    from sqlalchemy import text

    with db.unit_of_work() as s:
        s.execute(text(f"CREATE TABLE IF NOT EXISTS effects_{unique} (message_id text)"))
    effects = []

    def handler(delivery):
        def effect(session):
            session.execute(text(f"INSERT INTO effects_{unique} VALUES (:m)"), {"m": delivery.envelope["message_id"]})
            effects.append(1)
        handle_once(db, f"test-{unique}", delivery.envelope["message_id"], effect)

    runner = ConsumerRunner(settings.amqp_url, queue, handler, publisher=publisher, concurrency=4).start()
    try:
        env = _env(unique)
        for _ in range(5):  # the same message delivered five times
            publisher.publish(COMMANDS, f"t{unique}.op", encode(env), message_id=env["message_id"]).result(10)
        assert _wait(lambda: runner.stats["handled"] == 5)
        with db.unit_of_work() as s:
            count = s.execute(text(f"SELECT count(*) FROM effects_{unique}")).scalar_one()
        assert count == 1 and len(effects) >= 1
    finally:
        runner.stop()
        with db.unit_of_work() as s:
            s.execute(text(f"DROP TABLE effects_{unique}"))


def test_heartbeats_flow_while_a_handler_is_slow(settings, publisher, unique):
    """A handler slower than two heartbeat intervals must not cost the connection."""
    q = WorkQueue(f"test.hb.{unique}", COMMANDS, (f"hb{unique}.#",))
    done = []
    runner = ConsumerRunner(settings.amqp_url, q, lambda d: (time.sleep(5), done.append(1)), publisher=publisher)
    for params in runner._nodes.nodes:
        params.heartbeat = 2
    runner.start()
    try:
        env = _env(unique)
        publisher.publish(COMMANDS, f"hb{unique}.op", encode(env), message_id=env["message_id"]).result(10)
        assert _wait(lambda: done, 15)
        assert _wait(lambda: not runner._acks, 5)
        assert runner._conn.is_open and runner._generation == 1
    finally:
        runner.stop()
        delete_queues(settings, work_queue_names(q))
