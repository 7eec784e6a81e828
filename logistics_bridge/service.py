"""The logistics service (flow 5): legs quoted, paid, booked, tracked, cancelled; courier bills imported.

I/O at the edges: carriers through their adapters (injected), postage through the payment bridge's
service layer, events through the outbox. Every change of a leg happens with its row locked
(`SELECT ... FOR UPDATE`, plus a version column) and writes its `shipment.*` event row in the same
transaction. Booking and cancelling call the carrier with the leg locked, as the connector worker does
for a department call: either the carrier's answer and the leg's new state are both stored, or the
transaction rolls back and the call is retried (SF answers 8016 to a second booking of one order id).
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bus.errors import HandlerError
from bus.idempotency import handle_once
from kernel.identifiers import InvalidIdentifier, identifier_kind, mask, validate_resident_id, validate_uscc
from logistics_bridge import pickup
from logistics_bridge.address import Address, mask_phone, validate_address
from logistics_bridge.carriers.base import DeclaredItem, ShipmentRequest, Tracker
from logistics_bridge.courier_bills import CourierBills
from logistics_bridge.errors import CarrierError, InvalidAddress, LogisticsError, Refused
from logistics_bridge.intake import TrackingIntake, TrackingReport
from kernel.clock import utcnow
from logistics_bridge.outbox import CLIENT, Outbox, leg_event
from logistics_bridge.profiles import LEG_KINDS, LogisticsProfiles
from logistics_bridge.subscriptions import TrackingSubscriptions
from logistics_bridge.tracking import Status
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent, ShipmentTrackingEvent
from store.models.payment import PaymentNotice, PaymentRefund

log = logging.getLogger("govlink.logistics")

CONSUMER = "logistics"  # the idempotent receiver's name for payment.paid
PICKUP_TRIES = 8  # a pickup check colliding with another (no row locks on SQLite) is tried again this often
LIVE_STATES = ("awaiting_payment", "booked", "closed")  # a case has at most one such leg of each kind
PAID_STATES = frozenset({"paid", "refund_pending", "partly_refunded", "refunded"})
REFUNDABLE_POSTAGE = ("paid", "paid_after_close")  # paid in full, nothing refunded yet
_CONTENTS = {"materials": "申请材料", "results": "办理结果"}


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
    notice: object  # payment_bridge PaymentNotice


@dataclass
class PollReport:
    booked: int = 0
    subscribed: int = 0
    polled: int = 0
    moved: int = 0
    republished: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"booked": self.booked, "subscribed": self.subscribed, "polled": self.polled, "moved": self.moved,
                "republished": self.republished, "errors": self.errors}


def address_dict(address: Address) -> dict:
    return {"name": address.name, "phone": address.phone, "province": address.province, "city": address.city,
            "district": address.district, "detail": address.detail}


class LogisticsService(TrackingIntake, TrackingSubscriptions, CourierBills):
    def __init__(self, db, profiles: LogisticsProfiles, carriers: Mapping, trackers: Mapping[str, Tracker],
                 payments, *, outbox: Outbox, bill_get=None, route_trackers: Mapping[str, Tracker] | None = None):
        self.db = db
        self.profiles = profiles
        self.carriers = carriers  # sf, ems: booking and tracking
        self.trackers = trackers  # every push source: sf, ems, kuaidi100
        # per carrier, where its waybills are subscribed and polled: itself, or Kuaidi100 for it
        self.route_trackers = {**carriers, **(route_trackers or {})}
        self.payments = payments
        self.outbox = outbox
        self.bill_get = bill_get or {}

    # ================================================================== quote and create
    def quote(self, carrier: str, weight_g: int | None) -> tuple[int, int]:
        """(weight_g, postage_fen) of a leg with `carrier` (default weight: an envelope of documents)."""
        if carrier not in self.profiles.bookable:
            raise Refused(422, "unknown_carrier", f"No courier {carrier!r}; choose from "
                          f"{', '.join(self.profiles.bookable)}.")
        weight = weight_g or self.profiles.default_weight_g
        if not 1 <= weight <= 30_000:
            raise Refused(422, "invalid_weight", "weight_g must be 1 to 30000 grams.")
        return weight, self.profiles.quote(carrier, weight)

    def create_leg(self, request: LegRequest, *, actor: str, applicant_subject: str | None) -> CreatedLeg:
        """Create a leg awaiting payment and its postage notice; the leg is booked once the notice is paid."""
        service = self.profiles.services.get(request.service_code)
        if service is None:
            raise Refused(422, "unknown_service", f"Service {request.service_code!r} offers no courier delivery.")
        if request.kind not in LEG_KINDS:
            raise Refused(422, "invalid_kind", f"kind must be one of {', '.join(LEG_KINDS)}.")
        if request.kind not in service.courier_legs:
            raise Refused(422, "leg_not_by_courier", f"For {service.name} the {request.kind} leg is handled at the "
                          "counter only.", {"courier_legs": sorted(service.courier_legs)})
        weight, postage = self.quote(request.carrier, request.weight_g)
        key, kind = _applicant(request.applicant_key)
        try:
            address = validate_address(request.address)
        except InvalidAddress as exc:
            raise Refused(422, "invalid_address", exc.message, {"field": exc.field}) from None
        centre = self.profiles.centre
        sender, recipient = (address, centre) if request.kind == "materials" else (centre, address)
        code = pickup.new_code()
        code_hash = pickup.hash_code(code)
        now = utcnow()
        try:
            with self.db.unit_of_work() as session:
                shipment = self._shipment_for(session, request, key, kind, actor, applicant_subject, now)
                live = session.execute(select(ShipmentLeg.id).where(
                    ShipmentLeg.shipment_id == shipment.id, ShipmentLeg.kind == request.kind,
                    ShipmentLeg.state.in_(LIVE_STATES))).scalar_one_or_none()
                if live is not None:
                    raise Refused(409, "leg_exists", f"Case {request.case_id} already has a {request.kind} leg; "
                                  "cancel it first to book another.", {"leg_id": live})
                leg = ShipmentLeg(
                    id=str(uuid.uuid4()), shipment_id=shipment.id, kind=request.kind, carrier=request.carrier,
                    state="awaiting_payment", tracking_status=None, signed_by_other=False,
                    sender=address_dict(sender), recipient=address_dict(recipient), weight_g=weight,
                    postage_fen=postage, pickup_code_hash=code_hash, pickup_attempts=0, created_by=actor,
                    created_at=now, updated_at=now)
                session.add(leg)
                session.flush()
        except IntegrityError:
            raise Refused(409, "conflict", "Another request for this case was handled at the same time; retry.") \
                from None
        log.info("leg %s created for case %s (%s, %s, applicant %s, phone %s)", leg.id, request.case_id,
                 request.kind, request.carrier, mask(key), mask_phone(address.phone))
        notice = self._postage_notice(leg, shipment, address.name, request.platform, actor)
        with self.db.unit_of_work() as session:
            leg = self._lock(session, leg.id)
            leg.payment_notice_id = notice.id
            row = leg_event(session, leg, "shipment.created", {"payment_code": notice.payment_code}, actor=actor)
        self.outbox.publish([row])
        return CreatedLeg(leg, shipment, code, notice)

    @staticmethod
    def _lock(session, leg_id: str) -> ShipmentLeg:
        # populate_existing: the locked row's current state (and version), never a copy loaded earlier
        leg = session.execute(select(ShipmentLeg).where(ShipmentLeg.id == leg_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
        if leg is None:
            raise Refused(404, "not_found", "No such delivery leg.")
        return leg

    @staticmethod
    def _shipment_for(session, request, key, kind, actor, applicant_subject, now) -> Shipment:
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

    def _postage_notice(self, leg: ShipmentLeg, shipment: Shipment, payer_name: str, platform: str | None,
                        actor: str):
        """The leg's postage notice, created through the payment bridge (idempotent on the leg id)."""
        from payment_bridge.api import Item, NoticeRequest, PaymentError, request_hash

        postage = self.profiles.postage
        item = Item(postage.item_code, f"{postage.item_name}({_CONTENTS[leg.kind]})", postage.unit, leg.postage_fen, 1)
        notice_request = NoticeRequest(agency_code=postage.agency_code, payer_key=shipment.applicant_key,
                                       payer_name=payer_name, items=(item,), case_id=shipment.case_id,
                                       platform=platform or postage.platform)
        try:
            notice, _stored, _replayed = self.payments.create_notice(
                notice_request, caller=CLIENT, actor=actor, idempotency_key=f"leg-{leg.id}",
                body_hash=request_hash({"leg_id": leg.id, "postage_fen": leg.postage_fen}))
        except PaymentError as exc:
            with self.db.unit_of_work() as session:
                locked = self._lock(session, leg.id)
                locked.state, locked.error_code, locked.error_message = "booking_failed", exc.code, exc.message[:300]
                row = leg_event(session, locked, "shipment.booking_failed", {"error_code": exc.code})
            self.outbox.publish([row])
            raise Refused(getattr(exc, "status", 502), exc.code, f"The postage notice was refused: {exc.message}") \
                from None
        return notice

    # ================================================================== booking
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
        return self.get_leg(leg_id)[0]

    def _after_booking(self, leg_id: str, row: ShipmentLegEvent | None) -> None:
        """After the booking is committed: subscribe the waybill's tracking where the carrier needs it."""
        if row is not None and row.event_type == "shipment.booked":
            self.subscribe_tracking(leg_id)

    def _book_in(self, session, leg_id: str, *, cause: str) -> ShipmentLegEvent | None:
        leg = self._lock(session, leg_id)
        if leg.state != "awaiting_payment":
            return None  # booked, cancelled or failed before: nothing to do
        shipment = session.get(Shipment, leg.shipment_id)
        carrier = self.carriers[leg.carrier]
        request = ShipmentRequest(
            leg_id=leg.id, sender=validate_address(leg.sender), recipient=validate_address(leg.recipient),
            weight_g=leg.weight_g, items=(DeclaredItem(_CONTENTS[leg.kind]),),
            service=self.profiles.carriers[leg.carrier].service, remark=f"办件 {shipment.case_id}")
        now = utcnow()
        try:
            waybill = carrier.create_waybill(request)
        except CarrierError as exc:
            if exc.retryable:
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

    # ================================================================== cancel
    def cancel_leg(self, leg_id: str, *, actor: str, reason: str | None = None) -> ShipmentLeg:
        """Cancel a leg: at the carrier if booked and not yet picked up; its postage notice closed if unpaid,
        refunded if paid."""
        with self.db.unit_of_work() as session:
            leg = self._lock(session, leg_id)
            if leg.state == "cancelled":
                return leg
            if leg.state == "closed" or (leg.tracking_status and leg.tracking_status != Status.CREATED):
                raise Refused(409, "already_picked_up", f"The parcel is already {leg.tracking_status}: it can no "
                              "longer be cancelled.", {"tracking_status": leg.tracking_status})
            if leg.state == "booked":
                try:
                    self.carriers[leg.carrier].cancel(leg.id, leg.waybill_no)
                except CarrierError as exc:
                    raise Refused(409 if exc.code == "cancel_refused" else 502, f"carrier_{exc.code}",
                                  f"{leg.carrier.upper()} did not cancel waybill {leg.waybill_no}: {exc.message}",
                                  {"carrier_code": exc.carrier_code}) from None
                leg.tracking_status = str(Status.CANCELLED)
            leg.state, leg.closed_at, leg.updated_at = "cancelled", utcnow(), utcnow()
            row = leg_event(session, leg, "shipment.cancelled", {"reason": reason}, actor=actor)
        self.outbox.publish([row])
        self._settle_postage(leg.id, leg.payment_notice_id, actor)
        return leg

    def _settle_postage(self, leg_id: str, notice_id: str | None, actor: str) -> None:
        """Settle the postage of a cancelled leg: close its notice while unpaid, so it can no longer be paid;
        give the postage back once paid, also when it was paid after the close (once: the refund request id
        is the leg's)."""
        from payment_bridge.api import NoticePaid, PaymentError

        if notice_id is None:
            return
        try:  # closes it while unpaid; answers a closed one as it is
            self.payments.close_notice(notice_id, actor=actor, reason="寄递取消")
        except NoticePaid:  # paid, perhaps just before the close: refund it below
            pass
        except PaymentError as exc:  # still open: the poller closes it later
            log.warning("postage notice of leg %s not closed yet: %s", leg_id, exc.code)
            return
        notice = self.payments.get(notice_id)
        if notice.status not in REFUNDABLE_POSTAGE:
            return
        try:
            self.payments.refund(notice.id, refund_request_id=f"leg-cancel-{leg_id}", amount_fen=notice.paid_fen,
                                 reason="寄递取消", actor=actor)
        except PaymentError as exc:  # finance follows up from the reconciliation (postage paid, no waybill)
            log.warning("postage of leg %s not refunded: %s", leg_id, exc.code)

    # ================================================================== pickup code
    def verify_pickup(self, leg_id: str, code: str, *, actor: str) -> bool:
        """Check the recipient's pickup code at the handover; locked after too many wrong codes.

        Concurrent tries on one leg queue on its row lock (PostgreSQL). Where there is none (SQLite),
        they collide on the leg's version: each is tried again on the current row, a few times,
        then answered 409 `concurrent_update`, so every wrong code counts and none is lost.
        """
        for _attempt in range(PICKUP_TRIES):
            try:
                return self._verify_pickup_once(leg_id, code, actor=actor)
            except StaleDataError:
                time.sleep(random.uniform(0.01, 0.05))
        raise Refused(409, "concurrent_update", "Other pickup checks of this leg are under way; try again.")

    def _verify_pickup_once(self, leg_id: str, code: str, *, actor: str) -> bool:
        with self.db.unit_of_work() as session:
            leg = self._lock(session, leg_id)
            if leg.pickup_attempts >= self.profiles.pickup_code_attempts:
                raise Refused(423, "pickup_code_locked", "Too many wrong codes: verify the recipient's identity "
                              "at the counter instead.")
            ok = pickup.check_code(code, leg.pickup_code_hash)
            row = None
            if ok:
                leg.picked_up_verified_at = utcnow()
                row = leg_event(session, leg, "shipment.handed_over", actor=actor)
            else:
                leg.pickup_attempts += 1
        self.outbox.publish([row])
        return ok

    # ================================================================== polling
    def poll(self, *, older_than_seconds: float | None = None, limit: int = 200) -> PollReport:
        """Find what pushes and events missed: paid legs not booked, cancelled legs whose postage notice is
        still open, legs without news or without their tracking subscription; relay events."""
        from payment_bridge.api import OPEN_STATES

        report = PollReport()
        now = utcnow()
        quiet = timedelta(seconds=self.profiles.poll_after_seconds if older_than_seconds is None
                          else older_than_seconds)
        booking = timedelta(seconds=self.profiles.booking_retry_seconds if older_than_seconds is None
                            else older_than_seconds)
        with self.db.unit_of_work() as session:
            unbooked = list(session.execute(select(ShipmentLeg.id, ShipmentLeg.payment_notice_id).where(
                ShipmentLeg.state == "awaiting_payment", ShipmentLeg.payment_notice_id.is_not(None),
                ShipmentLeg.updated_at <= now - booking).limit(limit)))
            # Cancelled legs whose postage is unsettled: the notice still open (its close failed), or paid
            # after the close and not refunded yet (a refund that failed is finance's, not retried here).
            unsettled = list(session.execute(select(ShipmentLeg.id, ShipmentLeg.payment_notice_id).join(
                PaymentNotice, PaymentNotice.id == ShipmentLeg.payment_notice_id).where(
                ShipmentLeg.state == "cancelled", ShipmentLeg.updated_at <= now - booking,
                or_(PaymentNotice.status.in_(list(OPEN_STATES)),
                    and_(PaymentNotice.status == "paid_after_close",
                         ~exists().where(PaymentRefund.notice_id == PaymentNotice.id))))
                .order_by(ShipmentLeg.updated_at).limit(limit)))
            unsubscribed = self.unsubscribed_legs(session, now - booking, limit)
            quiet_legs = list(session.execute(select(ShipmentLeg.id, ShipmentLeg.carrier, ShipmentLeg.waybill_no).where(
                ShipmentLeg.state == "booked",
                or_(ShipmentLeg.last_event_at.is_(None), ShipmentLeg.last_event_at <= now - quiet),
                or_(ShipmentLeg.last_polled_at.is_(None), ShipmentLeg.last_polled_at <= now - quiet))
                .order_by(ShipmentLeg.last_polled_at.nulls_first()).limit(limit)))
        for leg_id, notice_id in unbooked:
            def book_if_paid(leg_id=leg_id, notice_id=notice_id):
                notice = self.payments.get(notice_id)
                if notice is not None and notice.status in PAID_STATES and self.book(leg_id).state == "booked":
                    report.booked += 1
            self._guard(report, book_if_paid, f"leg {leg_id} booking")
        for leg_id, notice_id in unsettled:
            self._guard(report, lambda leg_id=leg_id, notice_id=notice_id: self._settle_postage(
                leg_id, notice_id, CLIENT), f"leg {leg_id} postage")
        for leg_id in unsubscribed:
            def subscribe_one(leg_id=leg_id):
                if self.subscribe_tracking(leg_id):
                    report.subscribed += 1
            self._guard(report, subscribe_one, f"leg {leg_id} subscription")
        for leg_id, carrier, waybill in quiet_legs:
            def poll_one(leg_id=leg_id, carrier=carrier, waybill=waybill):
                events = self.route_trackers[carrier].track(waybill, phone=self._recipient_phone(leg_id))
                report.moved += self.apply_tracking(events, via="poll").moved
                report.polled += 1
                with self.db.unit_of_work() as session:
                    session.get(ShipmentLeg, leg_id).last_polled_at = utcnow()
            self._guard(report, poll_one, f"{carrier} {waybill}")
        report.republished = self.outbox.relay()
        return report

    def _recipient_phone(self, leg_id: str) -> str | None:
        with self.db.unit_of_work() as session:
            return session.get(ShipmentLeg, leg_id).recipient.get("phone")

    @staticmethod
    def _guard(report: PollReport, action, label: str) -> None:
        try:
            action()
        except (LogisticsError, HandlerError, StaleDataError) as exc:
            report.errors.append(f"{label}: {getattr(exc, 'code', type(exc).__name__)}: "
                                 f"{getattr(exc, 'message', str(exc))}"[:200])

    # ================================================================== reading
    def get_leg(self, leg_id: str) -> tuple[ShipmentLeg | None, Shipment | None]:
        with self.db.unit_of_work() as session:
            leg = session.get(ShipmentLeg, leg_id)
            return leg, (session.get(Shipment, leg.shipment_id) if leg is not None else None)

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


def _applicant(value: str) -> tuple[str, str]:
    """A validated applicant key and its kind (resident | enterprise)."""
    try:
        kind = identifier_kind(value)
        if kind == "resident_id":
            return validate_resident_id(value), "resident"
        return validate_uscc(value), "enterprise"
    except InvalidIdentifier as exc:
        raise Refused(422, "invalid_applicant_key", str(exc), {"rule": exc.code}) from None


__all__ = ["CONSUMER", "CreatedLeg", "LegRequest", "LogisticsService", "PollReport", "Refused", "TrackingReport"]
