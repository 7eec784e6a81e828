"""The parking lot: list, show, replay and purge messages that failed for good.

Messages are read with `basic_get` and settled one by one: a replayed message is published back
to its work queue (confirmed) before it is acked from the parking lot, so a crash in between at
worst replays it twice, which the idempotent receivers absorb.

Replaying and purging are operators' actions and leave a trace: before anything is settled, an
``audit`` record naming the operator, the messages (id and SHA-256 of each body) and the reason (a
purge needs one) is committed to the hash-chained message log (`bus.message_log.record_operator_action`).
If that record cannot be written, the messages go back untouched and nothing happens.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pika

from bus.connection import node_parameters
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
    """A connection to the parking lots; ``db`` (the message log's database) is needed to replay or purge."""

    def __init__(self, amqp_url: str, db=None):
        self.db = db
        self.conn = pika.BlockingConnection(node_parameters(amqp_url))
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

    def counts(self, parkings: list[str]) -> dict[str, int | None]:
        """Message counts of these parking queues; None for one not declared yet (the channel is reopened)."""
        out: dict[str, int | None] = {}
        for name in parkings:
            try:
                out[name] = self.count(name)
            except pika.exceptions.ChannelClosedByBroker:  # 404: no such queue yet
                out[name] = None
                self.channel = self.conn.channel()
                self.channel.confirm_delivery()
        return out

    def inspect(self, parking: str, message_id: str) -> tuple[Parked, str] | None:
        """One parked message, described, with its whole body masked (identifiers); left in place."""
        found = None
        fetched = self._drain(parking)
        try:
            for _, props, body in fetched:
                if props.message_id == message_id:
                    found = (_describe(parking, props, body), mask_identifiers(body.decode("utf-8", "replace")))
                    break
        finally:
            for method, _, _ in reversed(fetched):
                self.channel.basic_nack(method.delivery_tag, requeue=True)
        return found

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

    def _selected(self, parking: str, message_id: str | None):
        """Fetch the parked messages (all, or those with `message_id`); put the others back."""
        selected = []
        for method, props, body in self._drain(parking):
            if message_id and props.message_id != message_id:
                self.channel.basic_nack(method.delivery_tag, requeue=True)
                continue
            selected.append((method, props, body))
        return selected

    def _record(self, selected, *, action: str, parking: str, operator: str, reason: str | None,
                os_user: str | None, service: str | None, extra: dict | None = None, audit=None) -> None:
        """Commit the audit record of `action` on `selected`; on any failure put them back and raise.

        ``audit(session, count, seq)``, if given, writes more in the same transaction (the console's trail).
        """
        from bus.message_log.operator import record_operator_action

        messages = [{"message_id": props.message_id, "sha256": hashlib.sha256(body).hexdigest()}
                    for _, props, body in selected]
        try:
            if self.db is None:
                raise RuntimeError("replay and purge are recorded in the message log: give ParkingLot the database")
            with self.db.unit_of_work() as session:
                seq = record_operator_action(session, action=action, operator=operator, service=service,
                                             queue=parking, messages=messages, reason=reason, os_user=os_user,
                                             extra=extra)
                if audit is not None:
                    audit(session, len(messages), seq)
        except BaseException:
            for method, _, _ in reversed(selected):
                self.channel.basic_nack(method.delivery_tag, requeue=True)
            raise

    def replay(self, parking: str, work_queue: str, message_id: str | None = None, *, operator: str,
               reason: str | None = None, os_user: str | None = None, service: str | None = None,
               audit=None) -> int:
        """Send parked messages (all, or the one with `message_id`) back to `work_queue`; return how many.

        Recorded first in the message log (who, which, why); nothing moves if that fails.
        """
        selected = self._selected(parking, message_id)
        if not selected:
            return 0
        self._record(selected, action="dlq.replay", parking=parking, operator=operator, reason=reason,
                     os_user=os_user, service=service, extra={"to_queue": work_queue}, audit=audit)
        for method, props, body in selected:
            headers = {k: v for k, v in (props.headers or {}).items() if not str(k).startswith("x-govlink-")}
            headers["x-govlink-replayed"] = True
            self.channel.basic_publish("", work_queue, body, pika.BasicProperties(
                content_type=props.content_type, delivery_mode=2, message_id=props.message_id,
                correlation_id=props.correlation_id, headers=headers, type=props.type), mandatory=True)
            self.channel.basic_ack(method.delivery_tag)
        return len(selected)

    def purge(self, parking: str, message_id: str | None = None, *, operator: str, reason: str,
              os_user: str | None = None, service: str | None = None, audit=None) -> int:
        """Remove parked messages for good (all, or the one with `message_id`); return how many.

        Needs a reason; recorded first in the message log (who, which, why); nothing is removed if that fails.
        """
        from bus.message_log.operator import OperatorActionRefused

        if not (reason or "").strip():  # refuse before touching the queue
            raise OperatorActionRefused("reason_required", "dlq.purge needs a reason (--reason): it cannot be undone")
        selected = self._selected(parking, message_id)
        if not selected:
            return 0
        self._record(selected, action="dlq.purge", parking=parking, operator=operator, reason=reason,
                     os_user=os_user, service=service, audit=audit)
        for method, _, _ in selected:
            self.channel.basic_ack(method.delivery_tag)
        return len(selected)
