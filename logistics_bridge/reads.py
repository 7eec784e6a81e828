"""Reading legs: one leg, a page of legs, a leg's tracking history and events, and the view answered for it.

`LegView` is what the API answers for a leg (its schema dumps it as it is): phones masked, the postage notice
as the payment side reports it, the tracking history when asked for, the pickup code only once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from logistics_bridge.address import mask_phone
from logistics_bridge.legstore import load_leg
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent, ShipmentTrackingEvent


@dataclass(frozen=True)
class LegView:
    id: str
    case_id: str
    service_code: str
    kind: str
    carrier: str
    state: str
    tracking_status: str | None
    last_raw_code: str | None
    signed_by_other: bool
    waybill_no: str | None
    weight_g: int
    sender: dict
    recipient: dict
    postage: dict
    error: dict | None
    created_at: datetime | None
    booked_at: datetime | None
    closed_at: datetime | None
    picked_up_verified_at: datetime | None
    tracking: list | None = None  # ShipmentTrackingEvent rows; None: not part of this answer
    pickup_code: str | None = None  # only in the answer that creates the leg


def masked(party: dict) -> dict:
    return {**party, "phone": mask_phone(party.get("phone", ""))}


def leg_view(leg: ShipmentLeg, shipment: Shipment, *, notice=None, tracking: list | None = None,
             pickup_code: str | None = None) -> LegView:
    """The view of a leg (pure: from its rows and its notice as the payment side answered it)."""
    return LegView(
        id=leg.id, case_id=shipment.case_id, service_code=shipment.service_code, kind=leg.kind, carrier=leg.carrier,
        state=leg.state, tracking_status=leg.tracking_status, last_raw_code=leg.last_raw_code,
        signed_by_other=leg.signed_by_other, waybill_no=leg.waybill_no, weight_g=leg.weight_g,
        sender=masked(leg.sender), recipient=masked(leg.recipient),
        postage={"notice_id": leg.payment_notice_id, "postage_fen": leg.postage_fen,
                 "payment_code": getattr(notice, "payment_code", None), "pay_url": getattr(notice, "pay_url", None),
                 "status": getattr(notice, "status", None)},
        error={"code": leg.error_code, "message": leg.error_message} if leg.error_code else None,
        created_at=leg.created_at, booked_at=leg.booked_at, closed_at=leg.closed_at,
        picked_up_verified_at=leg.picked_up_verified_at, tracking=tracking, pickup_code=pickup_code)


class LegReads:
    def __init__(self, db, payments):
        self.db = db
        self.payments = payments

    def get_leg(self, leg_id: str) -> tuple[ShipmentLeg | None, Shipment | None]:
        return load_leg(self.db, leg_id)

    def full_view(self, leg: ShipmentLeg, shipment: Shipment) -> LegView:
        """A leg with its postage notice (asked of the payment side) and its tracking history."""
        notice = self.payments.get(leg.payment_notice_id) if leg.payment_notice_id else None
        return leg_view(leg, shipment, notice=notice, tracking=self.tracking_of(leg.id))

    def tracking_of(self, leg_id: str) -> list[ShipmentTrackingEvent]:
        with self.db.unit_of_work() as session:
            return list(session.execute(select(ShipmentTrackingEvent).where(ShipmentTrackingEvent.leg_id == leg_id)
                                        .order_by(ShipmentTrackingEvent.occurred_at,
                                                  ShipmentTrackingEvent.id)).scalars())

    def events_of(self, leg_id: str) -> list[ShipmentLegEvent]:
        with self.db.unit_of_work() as session:
            return list(session.execute(select(ShipmentLegEvent).where(ShipmentLegEvent.leg_id == leg_id)
                                        .order_by(ShipmentLegEvent.id)).scalars())

    def legs(self, *, applicant_keys: list[str] | None = None, subject: str | None = None,
             creator: str | None = None, case_id: str | None = None, limit: int = 50,
             offset: int = 0) -> list[tuple[ShipmentLeg, Shipment]]:
        """Legs, newest first: everyone's (`applicant_keys` None), or those of these applicants, of this
        subject (who created them as applicant) or made by this creator."""
        query = select(ShipmentLeg, Shipment).join(Shipment, Shipment.id == ShipmentLeg.shipment_id)
        if applicant_keys is not None:
            mine = [Shipment.applicant_key.in_(applicant_keys)] if applicant_keys else []
            if subject:
                mine.append(Shipment.applicant_subject == subject)
            if creator:
                mine.append(ShipmentLeg.created_by == creator)
            if not mine:
                return []
            query = query.where(or_(*mine))
        if case_id:
            query = query.where(Shipment.case_id == case_id)
        with self.db.unit_of_work() as session:
            return [tuple(row) for row in session.execute(
                query.order_by(ShipmentLeg.created_at.desc(), ShipmentLeg.id).limit(limit).offset(offset))]

    def list_views(self, **criteria) -> list[LegView]:
        """`legs(**criteria)` as views (no tracking history, no notice)."""
        return [leg_view(leg, shipment) for leg, shipment in self.legs(**criteria)]
