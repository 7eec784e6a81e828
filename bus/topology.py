"""Exchanges and queues, as code, declared idempotently at start.

    govlink.commands  (topic)   routing key <service>.<operation>  -> svc.<service>        (quorum)
    govlink.events    (topic)   routing key e.g. payment.paid      -> evt.<consumer>       (quorum)
    svc.<service>.retry.<n>     TTL'd tiers, dead-lettered back to svc.<service>       (quorum)
    svc.<service>.parking       the parking lot: what failed for good, with its cause  (quorum)

A consumer that gives up on a message publishes it to the next retry tier (or the parking lot)
with the failure cause in its headers, and only then acks the original: nothing is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

COMMANDS = "govlink.commands"
EVENTS = "govlink.events"
QUORUM = {"x-queue-type": "quorum"}

# Back-off of the retry tiers, in seconds: a message that keeps failing waits 1 s, 10 s, then 60 s.
DEFAULT_TIERS = (1, 10, 60)


@dataclass(frozen=True)
class WorkQueue:
    """A work queue with its retry tiers and parking lot."""

    name: str
    exchange: str
    binding_keys: tuple[str, ...]
    retry_tiers: tuple[int, ...] = DEFAULT_TIERS
    extra_arguments: dict = field(default_factory=dict)

    @property
    def parking(self) -> str:
        return f"{self.name}.parking"

    def retry_queue(self, tier: int) -> str:
        return f"{self.name}.retry.{tier}"

    @property
    def max_retries(self) -> int:
        return len(self.retry_tiers)


def service_queue(service: str, retry_tiers: tuple[int, ...] = DEFAULT_TIERS) -> WorkQueue:
    """The queue a connector worker consumes for a department service."""
    return WorkQueue(f"svc.{service}", COMMANDS, (f"{service}.#",), retry_tiers)


def event_queue(consumer: str, binding_keys: tuple[str, ...], retry_tiers: tuple[int, ...] = DEFAULT_TIERS) -> WorkQueue:
    """A queue through which one consumer (e.g. the logistics worker) hears events."""
    return WorkQueue(f"evt.{consumer}", EVENTS, binding_keys, retry_tiers)


def declare_exchanges(channel) -> None:
    channel.exchange_declare(COMMANDS, "topic", durable=True)
    channel.exchange_declare(EVENTS, "topic", durable=True)


def declare_work_queue(channel, queue: WorkQueue) -> None:
    """Declare the queue, its bindings, retry tiers and parking lot (a blocking channel)."""
    declare_exchanges(channel)
    channel.queue_declare(queue.name, durable=True, arguments={**QUORUM, **queue.extra_arguments})
    for key in queue.binding_keys:
        channel.queue_bind(queue.name, queue.exchange, routing_key=key)
    for tier, ttl in enumerate(queue.retry_tiers, start=1):
        channel.queue_declare(queue.retry_queue(tier), durable=True, arguments={
            **QUORUM,
            "x-message-ttl": ttl * 1000,
            # Back to the work queue through the default exchange once the TTL has passed;
            # at-least-once dead-lettering so a broker failure cannot drop it on the way.
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        })
    channel.queue_declare(queue.parking, durable=True, arguments=QUORUM)


def declare(amqp_url: str, queues: list[WorkQueue]) -> None:
    """Declare the exchanges and `queues` over a short-lived connection."""
    import pika

    from bus.connection import node_parameters

    conn = pika.BlockingConnection(node_parameters(amqp_url))
    try:
        ch = conn.channel()
        declare_exchanges(ch)
        for queue in queues:
            declare_work_queue(ch, queue)
    finally:
        conn.close()
