"""`shipment.*` events: written with the change they announce, published after the commit.

The event row is the outbox (bus.outbox, as in the payment bridge): `publish` marks what the broker
confirmed, `relay` resends the rest later; receivers dedupe on `message_id`. Payloads carry no personal data
(no names, phones or addresses): the leg id, case, carrier, waybill and statuses.
"""
from __future__ import annotations

from kernel.clock import utcnow
import logging
from datetime import datetime, timezone

import bus.outbox
from bus.envelope import encode, new_envelope
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent

log = logging.getLogger("govlink.logistics")

CLIENT = "govlink/logistics-bridge"



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


class Outbox(bus.outbox.Outbox):
    """The shared outbox over the `shipment_leg_events` table."""

    def __init__(self, db, publisher=None, message_log=None, timeout: float = 10.0):
        super().__init__(db, ShipmentLegEvent, publisher, message_log, timeout)
