"""The logistics poll: what pushes and events missed, bounded by the work that is due, not by the history.

Each round takes at most `limit` legs of each kind, selected by indexed columns of the legs alone:
- legs awaiting payment whose `payment_check_at` is due: their notice states are asked of the payment side
  in one call (`Payments.notice_states`), the paid ones are booked and each is given its next check
  (`domain.next_payment_check`: a leg never paid is asked after less and less often, so it neither costs
  every round nor keeps a paid leg out of the round's limit);
- cancelled legs whose postage is due to be looked at again (`postage_check_at`): closed, refunded or
  watched a while longer (`Cancelling.settle_postage`), their notice states asked in one call;
- booked waybills of Kuaidi100-tracked carriers not subscribed yet;
- booked legs without news from their carrier for a while: their routes are asked for;
- events not published yet are relayed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from bus.errors import HandlerError
from kernel.clock import utcnow
from logistics_bridge import domain
from logistics_bridge.errors import LogisticsError
from logistics_bridge.outbox import CLIENT
from payment_bridge.api import PaymentError
from store.models.logistics import ShipmentLeg

log = logging.getLogger("govlink.logistics")


@dataclass
class PollReport:
    booked: int = 0
    settled: int = 0  # cancelled legs whose postage was looked at
    subscribed: int = 0
    polled: int = 0
    moved: int = 0
    republished: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"booked": self.booked, "settled": self.settled, "subscribed": self.subscribed, "polled": self.polled,
                "moved": self.moved, "republished": self.republished, "errors": self.errors}


class Polling:
    def __init__(self, db, profiles, payments, route_trackers, outbox, *, booking, cancelling, subscriptions, intake):
        self.db = db
        self.profiles = profiles
        self.payments = payments
        self.route_trackers = route_trackers
        self.outbox = outbox
        self.booking = booking
        self.cancelling = cancelling
        self.subscriptions = subscriptions
        self.intake = intake

    def poll(self, *, older_than_seconds: float | None = None, limit: int = 200) -> PollReport:
        """One round. `older_than_seconds` replaces the configured waits and schedules (0: everything pending now,
        also the postage of every cancelled leg not settled yet)."""
        report = PollReport()
        now = utcnow()
        quiet = timedelta(seconds=self.profiles.poll_after_seconds if older_than_seconds is None
                          else older_than_seconds)
        retry = timedelta(seconds=self.profiles.booking_retry_seconds)
        booking = retry if older_than_seconds is None else timedelta(seconds=older_than_seconds)
        due = ShipmentLeg.postage_check_at.is_not(None) if older_than_seconds is not None \
            else ShipmentLeg.postage_check_at <= now
        # the override (an operator's `govlink logistics poll --older-than`) looks past the schedule
        asked = ShipmentLeg.created_at <= now - booking if older_than_seconds is not None \
            else ShipmentLeg.payment_check_at <= now
        with self.db.unit_of_work() as session:
            unbooked = list(session.execute(select(
                ShipmentLeg.id, ShipmentLeg.payment_notice_id, ShipmentLeg.created_at).where(
                ShipmentLeg.state == "awaiting_payment", asked, ShipmentLeg.payment_notice_id.is_not(None))
                .order_by(ShipmentLeg.payment_check_at).limit(limit)))
            unsettled = list(session.execute(select(ShipmentLeg.id, ShipmentLeg.payment_notice_id).where(
                ShipmentLeg.state == "cancelled", due).order_by(ShipmentLeg.postage_check_at).limit(limit)))
            unsubscribed = self.subscriptions.unsubscribed_legs(session, now - booking, limit)
            quiet_legs = list(session.execute(select(ShipmentLeg.id, ShipmentLeg.carrier, ShipmentLeg.waybill_no,
                                                     ShipmentLeg.recipient).where(
                ShipmentLeg.state == "booked",
                or_(ShipmentLeg.last_event_at.is_(None), ShipmentLeg.last_event_at <= now - quiet),
                or_(ShipmentLeg.last_polled_at.is_(None), ShipmentLeg.last_polled_at <= now - quiet))
                .order_by(ShipmentLeg.last_polled_at.nulls_first()).limit(limit)))
        paid = self._notice_states(report, [notice_id for _leg, notice_id, _at in unbooked], "booking")
        if paid is not None and unbooked:
            self._next_payment_checks(unbooked, paid, now, retry)
        for leg_id, notice_id, _at in unbooked if paid is not None else ():
            if domain.postage_books_leg(paid.get(notice_id)):
                self._guard(report, lambda leg_id=leg_id: self._book(report, leg_id), f"leg {leg_id} booking")
        states = self._notice_states(report, [notice_id for _leg, notice_id in unsettled if notice_id], "postage")
        for leg_id, notice_id in unsettled if states is not None else ():
            self._guard(report, lambda leg_id=leg_id, status=states.get(notice_id): self._settle(
                report, leg_id, status), f"leg {leg_id} postage")
        for leg_id in unsubscribed:
            self._guard(report, lambda leg_id=leg_id: self._subscribe(report, leg_id), f"leg {leg_id} subscription")
        for leg_id, carrier, waybill, recipient in quiet_legs:
            self._guard(report, lambda leg_id=leg_id, carrier=carrier, waybill=waybill, phone=recipient.get("phone"):
                        self._track(report, leg_id, carrier, waybill, phone), f"{carrier} {waybill}")
        report.republished = self.outbox.relay()
        return report

    def _notice_states(self, report: PollReport, notice_ids: list[str], label: str) -> dict[str, str] | None:
        """The payment side's states of these notices (one call), or None when it could not answer."""
        if not notice_ids:
            return {}
        try:
            return self.payments.notice_states(notice_ids)
        except PaymentError as exc:
            report.errors.append(f"{label}: notice states: {exc.code}: {exc.message}"[:200])
            return None

    def _next_payment_checks(self, unbooked: list, states: dict[str, str], now, retry: timedelta) -> None:
        """Each leg asked after gets its next check, in one statement (before any is booked)."""
        legs = ShipmentLeg.__table__
        with self.db.unit_of_work() as session:
            session.execute(update(legs).where(legs.c.id == bindparam("leg")).values(
                payment_check_at=bindparam("at")), [
                {"leg": leg_id, "at": domain.next_payment_check(created_at, now, retry, states.get(notice_id))}
                for leg_id, notice_id, created_at in unbooked])

    def _book(self, report: PollReport, leg_id: str) -> None:
        if self.booking.book(leg_id).state == "booked":
            report.booked += 1

    def _settle(self, report: PollReport, leg_id: str, status: str | None) -> None:
        self.cancelling.settle_postage(leg_id, CLIENT, status=status or "unknown")  # unknown there: nothing to do
        report.settled += 1

    def _subscribe(self, report: PollReport, leg_id: str) -> None:
        if self.subscriptions.subscribe_tracking(leg_id):
            report.subscribed += 1

    def _track(self, report: PollReport, leg_id: str, carrier: str, waybill: str, phone: str | None) -> None:
        events = self.route_trackers[carrier].track(waybill, phone=phone)
        report.moved += self.intake.apply_tracking(events, via="poll").moved
        report.polled += 1
        with self.db.unit_of_work() as session:
            session.get(ShipmentLeg, leg_id).last_polled_at = utcnow()

    @staticmethod
    def _guard(report: PollReport, action, label: str) -> None:
        try:
            action()
        except (LogisticsError, HandlerError, StaleDataError, PaymentError) as exc:
            report.errors.append(f"{label}: {getattr(exc, 'code', type(exc).__name__)}: "
                                 f"{getattr(exc, 'message', str(exc))}"[:200])

