"""Events as published on govlink.events, read directly from RabbitMQ through a temporary queue."""
from __future__ import annotations

import json
import time
from typing import Callable

import pika

from bus.connection import connection_parameters
from bus.topology import EVENTS, declare_exchanges


class EventCapture:
    """A temporary queue bound to govlink.events for `routing_key`; `subject_of` says which notice,
    leg or case an event's envelope is about; `settle` is how long `of` and `count` wait by default."""

    def __init__(self, amqp_url: str, routing_key: str, subject_of: Callable[[dict], str | None], *,
                 settle: float = 1.0):
        self.subject_of = subject_of
        self.settle = settle
        # No heartbeats: the connection is serviced only when a test reads events, and a slow test must
        # not lose the capture to missed heartbeats (the broker closed one after 90 s in a full CI run).
        self.conn = pika.BlockingConnection(connection_parameters(amqp_url, heartbeat=0))
        self.channel = self.conn.channel()
        declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, EVENTS, routing_key=routing_key)
        self.seen: list[tuple[str, dict]] = []

    def drain(self, settle: float = 0.0) -> None:
        """Wait `settle` seconds, then take every event queued so far."""
        if settle:
            self.conn.sleep(settle)
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return
            self.seen.append((method.routing_key, json.loads(body)))

    def of(self, subject: str, settle: float | None = None) -> list[str]:
        """The routing keys of every event about `subject` so far."""
        self.drain(self.settle if settle is None else settle)
        return [key for key, envelope in self.seen if self.subject_of(envelope) == subject]

    def count(self, event_type: str, subject: str, settle: float | None = None) -> int:
        return self.of(subject, settle).count(event_type)

    def wait_for(self, event_type: str, subject: str, timeout: float = 15.0) -> dict:
        """The first `event_type` envelope about `subject`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for key, envelope in self.seen:
                if key == event_type and self.subject_of(envelope) == subject:
                    return envelope
            self.drain(0.05)
        raise AssertionError(f"no {event_type} for {subject} on {EVENTS}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "EventCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
