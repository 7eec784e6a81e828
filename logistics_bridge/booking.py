"""Booking a paid leg with its carrier: on `payment.paid` (once per message), or by the poller.

The carrier is called with the leg locked, as the connector worker does for a department call: either the
carrier's answer and the leg's new state are both stored, or the transaction rolls back and the call is
retried (SF answers 8016 to a second booking of one order id).
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from bus.errors import HandlerError
from bus.idempotency import handle_once
from kernel.clock import utcnow
from logistics_bridge import domain
from logistics_bridge.address import validate_address
from logistics_bridge.carriers.base import DeclaredItem, ShipmentRequest
from logistics_bridge.errors import CarrierError
from logistics_bridge.legstore import load_leg, lock_leg
from logistics_bridge.outbox import leg_event
from logistics_bridge.tracking import Status
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent

log = logging.getLogger("govlink.logistics")

CONSUMER = "logistics"  # the idempotent receiver's name for payment.paid


class Booking:
    """Books legs whose postage is paid; a booked waybill is then subscribed where its carrier needs it."""

    def __init__(self, db, profiles, carriers, outbox, subscriptions):
        self.db = db
        self.profiles = profiles
        self.carriers = carriers
        self.outbox = outbox
        self.subscriptions = subscriptions

    def on_payment_paid(self, envelope: dict):
        """Handle a `payment.paid` event: book the leg its notice pays for (once per message)."""
        notice_id = (envelope.get("payload") or {}).get("notice_id")
        with self.db.unit_of_work() as session:
            leg_id = session.execute(select(ShipmentLeg.id).where(
                ShipmentLeg.payment_notice_id == str(notice_id))).scalar_one_or_none()
        if leg_id is None:
            return None  # not postage: another bridge's notice
        first, row = handle_once(self.db, CONSUMER, envelope["message_id"],
                                 lambda session: self._book_in(session, leg_id, cause=envelope["message_id"]))
        if first:
            self.outbox.publish([row])
            self._after_booking(leg_id, row)
        return {"leg_id": leg_id, "handled": first}

    def book(self, leg_id: str) -> ShipmentLeg:
        """Book a paid leg with its carrier now (the poller's path when `payment.paid` was missed)."""
        with self.db.unit_of_work() as session:
            row = self._book_in(session, leg_id, cause="poll")
        self.outbox.publish([row])
        self._after_booking(leg_id, row)
        return load_leg(self.db, leg_id)[0]

    def _after_booking(self, leg_id: str, row: ShipmentLegEvent | None) -> None:
        if row is not None and row.event_type == "shipment.booked":
            self.subscriptions.subscribe_tracking(leg_id)

    def _book_in(self, session, leg_id: str, *, cause: str) -> ShipmentLegEvent | None:
        leg = lock_leg(session, leg_id)
        if not domain.should_book(leg.state):
            return None  # booked, cancelled or failed before: nothing to do
        shipment = session.get(Shipment, leg.shipment_id)
        request = ShipmentRequest(
            leg_id=leg.id, sender=validate_address(leg.sender), recipient=validate_address(leg.recipient),
            weight_g=leg.weight_g, items=(DeclaredItem(domain.CONTENTS[leg.kind]),),
            service=self.profiles.carriers[leg.carrier].service, remark=f"办件 {shipment.case_id}")
        now = utcnow()
        try:
            waybill = self.carriers[leg.carrier].create_waybill(request)
        except CarrierError as exc:
            if domain.booking_retry(exc):
                raise HandlerError(exc.code, str(exc), transient=True) from None
            log.warning("leg %s not booked with %s: %s", leg.id, leg.carrier, exc)
            leg.state, leg.error_code, leg.error_message = "booking_failed", exc.code, exc.message[:300]
            leg.updated_at = now
            return leg_event(session, leg, "shipment.booking_failed",
                             {"error_code": exc.code, "carrier_code": exc.carrier_code, "cause": cause})
        leg.state, leg.waybill_no, leg.tracking_status = "booked", waybill.waybill_no, str(Status.CREATED)
        leg.booked_at = leg.updated_at = now
        leg.error_code = leg.error_message = None
        log.info("leg %s booked with %s: waybill %s", leg.id, leg.carrier, waybill.waybill_no)
        return leg_event(session, leg, "shipment.booked", {"cause": cause})
