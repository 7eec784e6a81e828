"""Quote a leg and create it with its postage notice (flow 5); the leg is booked once the notice is paid.

The postage notice is created through the payment side's interface (`payment_bridge.api.Payments`),
idempotent on the leg id. Refusals are `Refused` with the status that fits.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kernel.clock import utcnow
from kernel.identifiers import mask
from logistics_bridge import domain, pickup
from logistics_bridge.address import mask_phone, validate_address
from logistics_bridge.errors import InvalidAddress, Refused
from logistics_bridge.legstore import address_dict, lock_leg
from logistics_bridge.outbox import CLIENT, leg_event
from payment_bridge.api import Item, NoticeRequest, PaymentError, request_hash
from store.models.logistics import Shipment, ShipmentLeg

log = logging.getLogger("govlink.logistics")


@dataclass(frozen=True)
class LegRequest:
    """A leg to create: the applicant's address is the recipient (results) or the sender (materials)."""

    case_id: str
    service_code: str
    kind: str
    carrier: str
    address: Mapping[str, object]
    applicant_key: str
    weight_g: int | None = None
    platform: str | None = None


@dataclass
class CreatedLeg:
    leg: ShipmentLeg
    shipment: Shipment
    pickup_code: str  # shown once, to be handed to the recipient
    notice: object  # the postage notice, as the payment side answers it


class LegOrders:
    """Quotes, and legs created awaiting payment with their postage notice."""

    def __init__(self, db, profiles, payments, outbox):
        self.db = db
        self.profiles = profiles
        self.payments = payments
        self.outbox = outbox

    def quote(self, carrier: str, weight_g: int | None) -> tuple[int, int]:
        """(weight_g, postage_fen) of a leg with `carrier`."""
        return domain.quote(self.profiles, carrier, weight_g)

    def create_leg(self, request: LegRequest, *, actor: str, applicant_subject: str | None) -> CreatedLeg:
        """Create a leg awaiting payment and its postage notice; the leg is booked once the notice is paid."""
        domain.service_for(self.profiles.services, request.service_code, request.kind)
        weight, postage = domain.quote(self.profiles, request.carrier, request.weight_g)
        key, kind = domain.applicant(request.applicant_key)
        try:
            address = validate_address(request.address)
        except InvalidAddress as exc:
            raise Refused(422, "invalid_address", exc.message, {"field": exc.field}) from None
        sender, recipient = domain.parties(request.kind, address, self.profiles.centre)
        code = pickup.new_code()
        code_hash = pickup.hash_code(code)
        now = utcnow()
        try:
            with self.db.unit_of_work() as session:
                shipment = _shipment_for(session, request, key, kind, actor, applicant_subject, now)
                live = session.execute(select(ShipmentLeg.id).where(
                    ShipmentLeg.shipment_id == shipment.id, ShipmentLeg.kind == request.kind,
                    ShipmentLeg.state.in_(domain.LIVE_STATES))).scalar_one_or_none()
                if live is not None:
                    raise domain.leg_exists(request.case_id, request.kind, live)
                leg = ShipmentLeg(
                    id=str(uuid.uuid4()), shipment_id=shipment.id, kind=request.kind, carrier=request.carrier,
                    state="awaiting_payment", tracking_status=None, signed_by_other=False,
                    sender=address_dict(sender), recipient=address_dict(recipient), weight_g=weight,
                    postage_fen=postage, pickup_code_hash=code_hash, pickup_attempts=0, created_by=actor,
                    created_at=now, updated_at=now,
                    payment_check_at=now + timedelta(seconds=self.profiles.booking_retry_seconds))
                session.add(leg)
                session.flush()
        except IntegrityError:
            raise Refused(409, "conflict", "Another request for this case was handled at the same time; retry.") \
                from None
        log.info("leg %s created for case %s (%s, %s, applicant %s, phone %s)", leg.id, request.case_id,
                 request.kind, request.carrier, mask(key), mask_phone(address.phone))
        notice = self._postage_notice(leg, shipment, address.name, request.platform, actor)
        with self.db.unit_of_work() as session:
            leg = lock_leg(session, leg.id)
            leg.payment_notice_id = notice.id
            row = leg_event(session, leg, "shipment.created", {"payment_code": notice.payment_code}, actor=actor)
        self.outbox.publish([row])
        return CreatedLeg(leg, shipment, code, notice)

    def _postage_notice(self, leg: ShipmentLeg, shipment: Shipment, payer_name: str, platform: str | None,
                        actor: str):
        """The leg's postage notice, created through the payment side (idempotent on the leg id)."""
        postage = self.profiles.postage
        item = Item(postage.item_code, f"{postage.item_name}({domain.CONTENTS[leg.kind]})", postage.unit,
                    leg.postage_fen, 1)
        notice_request = NoticeRequest(agency_code=postage.agency_code, payer_key=shipment.applicant_key,
                                       payer_name=payer_name, items=(item,), case_id=shipment.case_id,
                                       platform=platform or postage.platform)
        try:
            notice, _stored, _replayed = self.payments.create_notice(
                notice_request, caller=CLIENT, actor=actor, idempotency_key=f"leg-{leg.id}",
                body_hash=request_hash({"leg_id": leg.id, "postage_fen": leg.postage_fen}))
        except PaymentError as exc:
            with self.db.unit_of_work() as session:
                locked = lock_leg(session, leg.id)
                locked.state, locked.error_code, locked.error_message = "booking_failed", exc.code, exc.message[:300]
                row = leg_event(session, locked, "shipment.booking_failed", {"error_code": exc.code})
            self.outbox.publish([row])
            raise Refused(getattr(exc, "status", 502), exc.code, f"The postage notice was refused: {exc.message}") \
                from None
        return notice


def _shipment_for(session, request: LegRequest, key: str, kind: str, actor: str, applicant_subject: str | None,
                  now) -> Shipment:
    shipment = session.execute(select(Shipment).where(Shipment.case_id == request.case_id)
                               .with_for_update()).scalar_one_or_none()
    if shipment is None:
        shipment = Shipment(id=str(uuid.uuid4()), case_id=request.case_id, service_code=request.service_code,
                            applicant_key=key, applicant_kind=kind, applicant_subject=applicant_subject,
                            created_by=actor, created_at=now)
        session.add(shipment)
        session.flush()
    elif shipment.applicant_key != key or shipment.service_code != request.service_code:
        raise Refused(409, "case_mismatch", f"Case {request.case_id} belongs to another applicant or service.")
    return shipment
