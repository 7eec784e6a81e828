"""`govlink dlq replay/purge` on the real RabbitMQ and PostgreSQL: every action is in the message log (16.3).

Who (--operator, else the OS user), when, which messages (ids and body hashes) and why (a purge is
refused without --reason), as an audit record in the hash chain that `govlink audit verify` checks.
"""
import getpass
import hashlib
import json

import pika
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bus.connection import connection_parameters
from bus.topology import declare, service_queue
from bootstrap.cli import main
from store.models.bus import MessageLogRecord
from tests.support.queues import delete_queues, work_queue_names


@pytest.fixture()
def parked(settings, unique):
    """A service of its own with two messages in its parking lot."""
    service = f"audit-{unique}"
    queue = service_queue(service)
    declare(settings.amqp_url, [queue])
    bodies = {f"m1-{unique}": b'{"n":1}', f"m2-{unique}": b'{"n":2}'}
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        for message_id, body in bodies.items():
            channel.basic_publish("", queue.parking, body, pika.BasicProperties(
                message_id=message_id, delivery_mode=2, headers={"x-govlink-failure-code": "unavailable"}))
    finally:
        conn.close()
    yield service, queue, bodies
    delete_queues(settings, work_queue_names(queue))


def _count(settings, name):
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        return conn.channel().queue_declare(name, passive=True).method.message_count
    finally:
        conn.close()


def _audit(db, service):
    with db.unit_of_work() as s:
        rows = s.execute(select(MessageLogRecord).where(MessageLogRecord.direction == "audit",
                                                        MessageLogRecord.service == service)
                         .order_by(MessageLogRecord.seq)).scalars().all()
        return [(r.type, r.user_masked, json.loads(r.body)) for r in rows]


def test_purge_without_a_reason_is_refused_and_nothing_moves(settings, db, parked):
    service, queue, _ = parked
    answer = CliRunner().invoke(main, ["dlq", "purge", service, "--yes"])
    assert answer.exit_code != 0 and "--reason" in answer.output
    assert _count(settings, queue.parking) == 2
    assert _audit(db, service) == []


def test_purge_and_replay_are_recorded_in_the_chain(settings, db, parked):
    service, queue, bodies = parked
    first, second = bodies
    answer = CliRunner().invoke(main, ["dlq", "purge", service, "--message-id", first, "--yes",
                                       "--operator", "ops-alice", "--reason", "sent twice by the portal"])
    assert answer.exit_code == 0, answer.output
    assert _count(settings, queue.parking) == 1

    answer = CliRunner().invoke(main, ["dlq", "replay", service])  # no --operator: the OS user
    assert answer.exit_code == 0, answer.output
    assert _count(settings, queue.parking) == 0 and _count(settings, queue.name) == 1

    (purge_type, purge_user, purge), (replay_type, replay_user, replay) = _audit(db, service)
    assert (purge_type, purge_user) == ("govlink.operator.dlq.purge", "ops-alice")
    assert purge["payload"]["reason"] == "sent twice by the portal"
    assert purge["payload"]["os_user"] == getpass.getuser()
    assert purge["payload"]["queue"] == queue.parking
    assert purge["payload"]["messages"] == [{"message_id": first, "sha256": hashlib.sha256(bodies[first]).hexdigest()}]
    assert (replay_type, replay_user) == ("govlink.operator.dlq.replay", getpass.getuser())
    assert replay["payload"]["messages"] == [{"message_id": second,
                                              "sha256": hashlib.sha256(bodies[second]).hexdigest()}]
    assert replay["payload"]["to_queue"] == queue.name

    verified = CliRunner().invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0 and "message log intact" in verified.output
