"""The parking lot: list, show, replay and purge messages that failed for good.

Messages are read with `basic_get` and settled one by one: a replayed message is published back
to its work queue (confirmed) before it is acked from the parking lot, so a crash in between at
worst replays it twice, which the idempotent receivers absorb.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pika

from bus.connection import connection_parameters
from bus.consumer import RETRIES_HEADER
from config.logging import mask_identifiers


@dataclass
class Parked:
    message_id: str | None
    queue: str
    failure_code: str | None
    failure_reason: str | None
    failed_at: str | None
    retries: int
    type: str | None
    case_id: str | None
    preview: str


def parking_queues(channel_or_conn, queues: list[str]) -> dict[str, int]:
    """Message counts of the given parking queues (that exist)."""
    counts = {}
    for name in queues:
        try:
            counts[name] = channel_or_conn.queue_declare(name, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            raise
    return counts


def _describe(queue: str, props, body: bytes) -> Parked:
    headers = props.headers or {}
    try:
        data = json.loads(body)
        kind, case_id = data.get("type"), data.get("case_id")
    except (ValueError, AttributeError):
        kind, case_id = None, None
    return Parked(props.message_id, queue, _s(headers.get("x-govlink-failure-code")), _s(headers.get("x-govlink-failure-reason")),
                  _s(headers.get("x-govlink-failed-at")), int(headers.get(RETRIES_HEADER, 0) or 0), kind, case_id,
                  mask_identifiers(body[:300].decode("utf-8", "replace")))


def _s(value):
    return value.decode() if isinstance(value, bytes) else value


class ParkingLot:
    def __init__(self, amqp_url: str):
        self.conn = pika.BlockingConnection(connection_parameters(amqp_url))
        self.channel = self.conn.channel()
        self.channel.confirm_delivery()

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def count(self, parking: str) -> int:
        return self.channel.queue_declare(parking, passive=True).method.message_count

    def _drain(self, parking: str, limit: int | None = None):
        """Fetch up to `limit` messages (unacked) from the parking queue."""
        fetched = []
        total = self.count(parking)
        while (limit is None or len(fetched) < limit) and len(fetched) < total:
            method, props, body = self.channel.basic_get(parking, auto_ack=False)
            if method is None:
                break
            fetched.append((method, props, body))
        return fetched

    def show(self, parking: str, limit: int = 20) -> list[Parked]:
        """Describe up to `limit` parked messages, leaving them in place."""
        fetched = self._drain(parking, limit)
        described = [_describe(parking, props, body) for _, props, body in fetched]
        for method, _, _ in reversed(fetched):
            self.channel.basic_nack(method.delivery_tag, requeue=True)
        return described

    def replay(self, parking: str, work_queue: str, message_id: str | None = None) -> int:
        """Send parked messages (all, or the one with `message_id`) back to `work_queue`; return how many."""
        moved = 0
        for method, props, body in self._drain(parking):
            if message_id and props.message_id != message_id:
                self.channel.basic_nack(method.delivery_tag, requeue=True)
                continue
            headers = {k: v for k, v in (props.headers or {}).items() if not str(k).startswith("x-govlink-")}
            headers["x-govlink-replayed"] = True
            self.channel.basic_publish("", work_queue, body, pika.BasicProperties(
                content_type=props.content_type, delivery_mode=2, message_id=props.message_id,
                correlation_id=props.correlation_id, headers=headers, type=props.type), mandatory=True)
            self.channel.basic_ack(method.delivery_tag)
            moved += 1
        return moved

    def purge(self, parking: str, message_id: str | None = None) -> int:
        """Remove parked messages for good (all, or the one with `message_id`); return how many."""
        removed = 0
        for method, props, _ in self._drain(parking):
            if message_id and props.message_id != message_id:
                self.channel.basic_nack(method.delivery_tag, requeue=True)
                continue
            self.channel.basic_ack(method.delivery_tag)
            removed += 1
        return removed
