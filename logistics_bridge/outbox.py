"""`shipment.*` events: written with the change they announce, published after the commit.

The event row is the outbox (as in the payment bridge): `publish` marks what the broker confirmed,
`relay` resends the rest later; receivers dedupe on `message_id`. Payloads carry no personal data
(no names, phones or addresses): the leg id, case, carrier, waybill and statuses.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from bus.envelope import encode, new_envelope
from bus.topology import EVENTS
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent

log = logging.getLogger("govlink.logistics")

CLIENT = "govlink/logistics-bridge"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def leg_event(session, leg: ShipmentLeg, event_type: str, details: dict | None = None, *,
              actor: str | None = None) -> ShipmentLegEvent:
    """Write the event row of `event_type` for `leg` (in `session`, with the change it announces)."""
    shipment = session.get(Shipment, leg.shipment_id)
    now = utcnow()
    payload = {
        "leg_id": leg.id, "case_id": shipment.case_id, "service_code": shipment.service_code, "kind": leg.kind,
        "carrier": leg.carrier, "waybill_no": leg.waybill_no, "state": leg.state,
        "tracking_status": leg.tracking_status, "raw_code": leg.last_raw_code, "postage_fen": leg.postage_fen,
        "payment_notice_id": leg.payment_notice_id, "signed_by_other": leg.signed_by_other,
        "occurred_at": now.isoformat(), **(details or {}),
    }
    envelope = new_envelope(event_type, payload, client=CLIENT, case_id=shipment.case_id, user=actor,
                            correlation_id=leg.id)
    row = ShipmentLegEvent(leg_id=leg.id, event_type=event_type, details=details or {}, occurred_at=now,
                           message_id=envelope["message_id"], envelope=encode(envelope).decode())
    session.add(row)
    session.flush()
    return row


class Outbox:
    """Publishes event rows on govlink.events and records them in the message log."""

    def __init__(self, db, publisher=None, message_log=None, timeout: float = 10.0):
        self.db = db
        self.publisher = publisher
        self.message_log = message_log
        self.timeout = timeout

    def publish(self, rows: list[ShipmentLegEvent]) -> int:
        """Publish `rows` and mark the confirmed ones; the rest stay for `relay`."""
        rows = [row for row in rows if row is not None]
        if self.publisher is None or not rows:
            return 0
        futures = []
        for row in rows:
            try:
                futures.append((row, self.publisher.publish(EVENTS, row.event_type, row.envelope.encode(),
                                                             message_id=row.message_id, type=row.event_type,
                                                             correlation_id=row.leg_id, mandatory=False)))
            except Exception as exc:  # the broker is down: the relay sends it later
                log.warning("event %s not published yet (%s)", row.event_type, type(exc).__name__)
        confirmed = []
        for row, future in futures:
            try:
                future.result(self.timeout)
            except Exception as exc:
                log.warning("event %s not confirmed (%s); the relay will resend it", row.event_type,
                            type(exc).__name__)
                continue
            confirmed.append(row.id)
            if self.message_log is not None:
                self.message_log.record(json.loads(row.envelope), "out")
        if confirmed:
            with self.db.unit_of_work() as session:
                session.execute(update(ShipmentLegEvent).where(ShipmentLegEvent.id.in_(confirmed))
                                .values(published_at=utcnow()))
        return len(confirmed)

    def relay(self, *, older_than_seconds: float = 5.0, limit: int = 500) -> int:
        """Publish events whose first publication was not confirmed."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        with self.db.unit_of_work() as session:
            rows = list(session.execute(select(ShipmentLegEvent).where(
                ShipmentLegEvent.published_at.is_(None), ShipmentLegEvent.occurred_at < cutoff)
                .order_by(ShipmentLegEvent.id).limit(limit)).scalars())
        return self.publish(rows)
