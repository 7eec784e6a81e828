"""Queues a test declared on the real RabbitMQ, deleted again when it is done."""
from __future__ import annotations

from collections.abc import Iterable

import pika

from bus.connection import connection_parameters
from bus.topology import WorkQueue


def work_queue_names(queue: WorkQueue) -> list[str]:
    """A work queue's name, its parking lot and every retry-tier queue."""
    return [queue.name, queue.parking, *(queue.retry_queue(tier + 1) for tier in range(queue.max_retries))]


def delete_queues(settings, names: Iterable[str]) -> None:
    """Delete these queues (a queue that is not there is fine)."""
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
    finally:
        conn.close()


def queue_depth(settings, name: str) -> int:
    """Messages ready on queue `name` now (0 when the queue is not there)."""
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        return conn.channel().queue_declare(name, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:  # 404: no such queue
        return 0
    finally:
        if conn.is_open:
            conn.close()
