"""Tracking subscriptions: a booked waybill of a carrier tracked through Kuaidi100 is subscribed there.

Once a leg is booked (on `payment.paid`, or by the poller), its waybill is subscribed at Kuaidi100 (poll API:
company, number, our key, and the callback URL with the salt that signs the pushes); Kuaidi100 then
pushes every change to `/callbacks/logistics/kuaidi100`, where the push is verified and applied
(`TrackingIntake`). The subscription is recorded as the leg event `shipment.tracking_subscribed`; a
subscription that failed (Kuaidi100 down or refusing) is tried again by the poller, and until then the
poller asks Kuaidi100 about the leg as it would about any leg without news. Kuaidi100 answers a second
subscription of one waybill with 501 (duplicate), which counts as subscribed.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, select

from logistics_bridge import domain
from logistics_bridge.errors import CarrierError
from logistics_bridge.legstore import lock_leg
from logistics_bridge.outbox import leg_event
from store.models.logistics import ShipmentLeg, ShipmentLegEvent

log = logging.getLogger("govlink.logistics")

SUBSCRIBED = "shipment.tracking_subscribed"


class TrackingSubscriptions:
    """Subscribes booked waybills at Kuaidi100 where their carrier is tracked there."""

    def __init__(self, db, profiles, route_trackers, outbox):
        self.db = db
        self.profiles = profiles
        self.route_trackers = route_trackers  # per carrier: itself, or Kuaidi100 for it
        self.outbox = outbox

    def subscribe_tracking(self, leg_id: str) -> bool:
        """Subscribe a booked leg's waybill where its carrier is tracked (Kuaidi100); True once subscribed."""
        with self.db.unit_of_work() as session:
            leg = session.get(ShipmentLeg, leg_id)
        if leg is None or not domain.needs_subscription(leg.state, leg.carrier, self.profiles.via_kuaidi100):
            return False
        try:
            self.route_trackers[leg.carrier].subscribe(leg.waybill_no, phone=leg.recipient.get("phone"))
        except CarrierError as exc:
            log.warning("waybill of leg %s not subscribed at Kuaidi100 yet (%s): the poller tries again", leg_id,
                        exc.code, extra={"carrier": leg.carrier, "error_code": exc.code})
            return False
        with self.db.unit_of_work() as session:
            locked = lock_leg(session, leg_id)
            row = None
            if not _subscribed(session, leg_id):
                row = leg_event(session, locked, SUBSCRIBED, {"via": "kuaidi100"})
        self.outbox.publish([row] if row is not None else [])
        log.info("leg %s: waybill %s subscribed at Kuaidi100", leg_id, leg.waybill_no)
        return True

    def unsubscribed_legs(self, session, before: datetime, limit: int) -> list[str]:
        """Booked legs of Kuaidi100-tracked carriers, booked before `before`, not subscribed yet."""
        if not self.profiles.via_kuaidi100:
            return []
        return list(session.execute(select(ShipmentLeg.id).where(
            ShipmentLeg.state == "booked", ShipmentLeg.carrier.in_(self.profiles.via_kuaidi100),
            ShipmentLeg.booked_at <= before,
            ~exists().where(ShipmentLegEvent.leg_id == ShipmentLeg.id, ShipmentLegEvent.event_type == SUBSCRIBED))
            .limit(limit)).scalars())


def _subscribed(session, leg_id: str) -> bool:
    return session.execute(select(ShipmentLegEvent.id).where(
        ShipmentLegEvent.leg_id == leg_id, ShipmentLegEvent.event_type == SUBSCRIBED)).first() is not None
