"""The transactional outbox: an event row is written with the change it announces and published
after the commit; what the broker did not confirm is sent again by `relay` (receivers dedupe on
`message_id`).

An event model has `id`, `event_type`, `message_id`, `envelope` (the encoded envelope),
`occurred_at` and `published_at`. The payment and logistics bridges each keep their own table.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from bus.topology import EVENTS

log = logging.getLogger("govlink.outbox")


class Outbox:
    def __init__(self, db, model, publisher=None, message_log=None, timeout: float = 10.0):
        self.db = db
        self.model = model
        self.publisher = publisher
        self.message_log = message_log
        self.timeout = timeout

    def publish(self, rows: list) -> int:
        """Publish event rows on govlink.events and mark the confirmed ones; the rest stay for `relay`."""
        rows = [row for row in rows if row is not None]
        if self.publisher is None or not rows:
            return 0
        futures = []
        for row in rows:
            envelope = json.loads(row.envelope)
            try:
                # Not mandatory: an event nobody listens to yet is not an error.
                futures.append((row, envelope, self.publisher.publish(
                    EVENTS, row.event_type, row.envelope.encode(), message_id=row.message_id, type=row.event_type,
                    correlation_id=envelope.get("correlation_id"), mandatory=False)))
            except Exception as exc:  # the broker is down: the relay sends it later
                log.warning("event %s not published yet (%s)", row.event_type, type(exc).__name__)
        confirmed = []
        for row, envelope, future in futures:
            try:
                future.result(self.timeout)
            except Exception as exc:
                log.warning("event %s not confirmed by the broker (%s); the relay will resend it",
                            row.event_type, type(exc).__name__)
                continue
            confirmed.append(row.id)
            if self.message_log is not None:
                self.message_log.record(envelope, "out")
        if confirmed:
            with self.db.unit_of_work() as session:
                session.execute(update(self.model).where(self.model.id.in_(confirmed))
                                .values(published_at=datetime.now(timezone.utc)))
        return len(confirmed)

    def relay(self, *, older_than_seconds: float = 5.0, limit: int = 500) -> int:
        """Publish events whose first publication was not confirmed (oldest first)."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds)
        with self.db.unit_of_work() as session:
            rows = list(session.execute(select(self.model).where(
                self.model.published_at.is_(None), self.model.occurred_at < cutoff)
                .order_by(self.model.id).limit(limit)).scalars())
        return self.publish(rows)
