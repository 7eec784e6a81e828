"""Cancelling a leg before pickup, and settling its postage through the payment side's interface.

A booked leg is cancelled at its carrier first (with the leg locked). Its postage notice is then closed while
unpaid, so it can no longer be paid, and given back once paid, also when it was paid after the close (once:
the refund request id is the leg's). What the postage needs is `domain.postage_step`; when to look at it again
is recorded on the leg (`postage_check_at`, `domain.next_postage_check`), so the poller selects only the
cancelled legs whose postage is due, never the whole history. When the watch of a closed notice ends unpaid,
it is given up loudly, once per leg: `postage_watch_abandoned_at` is set in the transaction that clears
`postage_check_at`, an ERROR line names the leg and `govlink_logistics_postage_watch_abandoned_total` counts it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from prometheus_client import Counter

from kernel.clock import utcnow
from logistics_bridge import domain
from logistics_bridge.domain import PostageStep
from logistics_bridge.errors import CarrierError
from logistics_bridge.legstore import lock_leg
from logistics_bridge.outbox import leg_event
from logistics_bridge.tracking import Status
from payment_bridge.api import NoticePaid, PaymentError
from store.models.logistics import ShipmentLeg

log = logging.getLogger("govlink.logistics")

REASON = "寄递取消"
WATCHES_ABANDONED = Counter("govlink_logistics_postage_watch_abandoned_total",
                            "Cancelled legs whose closed postage notice is no longer watched for a late payment "
                            "(postage_watch_days after the cancel; postage_watch_abandoned_at is set)")


class Cancelling:
    """Cancels legs and settles the postage of cancelled legs."""

    def __init__(self, db, profiles, carriers, payments, outbox):
        self.db = db
        self.profiles = profiles
        self.carriers = carriers
        self.payments = payments
        self.outbox = outbox

    def cancel_leg(self, leg_id: str, *, actor: str, reason: str | None = None) -> ShipmentLeg:
        """Cancel a leg: at the carrier if booked and not yet picked up; then settle its postage."""
        with self.db.unit_of_work() as session:
            leg = lock_leg(session, leg_id)
            step = domain.cancel_step(leg.state, leg.tracking_status)
            if step is domain.CancelStep.ALREADY:
                return leg
            if step is domain.CancelStep.AT_CARRIER:
                try:
                    self.carriers[leg.carrier].cancel(leg.id, leg.waybill_no)
                except CarrierError as exc:
                    raise domain.carrier_cancel_refused(exc, leg.carrier, leg.waybill_no) from None
                leg.tracking_status = str(Status.CANCELLED)
            now = utcnow()
            leg.state, leg.closed_at, leg.updated_at = "cancelled", now, now
            leg.postage_check_at = now if leg.payment_notice_id else None  # due until settled below
            row = leg_event(session, leg, "shipment.cancelled", {"reason": reason}, actor=actor)
        self.outbox.publish([row])
        self.settle_postage(leg.id, actor)
        return leg

    def settle_postage(self, leg_id: str, actor: str, status: str | None = None) -> PostageStep:
        """Close, refund or wait on the postage of a cancelled leg (its notice `status` if known), and record
        when to look again. Returns the step taken."""
        with self.db.unit_of_work() as session:
            leg = session.get(ShipmentLeg, leg_id)
            notice_id, cancelled_at = leg.payment_notice_id, leg.closed_at or leg.updated_at
        if notice_id is None:
            self._record(leg_id, None)
            return PostageStep.DONE
        step = domain.postage_step(status if status is not None else self.payments.get(notice_id).status)
        if step is PostageStep.CLOSE:
            try:  # closes it while unpaid; answers a closed one as it is
                self.payments.close_notice(notice_id, actor=actor, reason=REASON)
            except NoticePaid:  # paid, perhaps just before the close: refund it below
                pass
            except PaymentError as exc:  # still open: looked at again after the retry delay
                log.warning("postage notice of leg %s not closed yet: %s", leg_id, exc.code)
                return self._after(leg_id, PostageStep.CLOSE, cancelled_at, failed=True)
            step = domain.postage_step(self.payments.get(notice_id).status)
        if step is PostageStep.REFUND:
            notice = self.payments.get(notice_id)
            try:  # once: the refund request id is the leg's, so asking again replays it
                self.payments.refund(notice.id, refund_request_id=f"leg-cancel-{leg_id}", amount_fen=notice.paid_fen,
                                     reason=REASON, actor=actor)
            except PaymentError as exc:  # not taken: asked again after the retry delay
                log.warning("postage of leg %s not refunded yet: %s", leg_id, exc.code)
                return self._after(leg_id, step, cancelled_at, failed=True)
        return self._after(leg_id, step, cancelled_at)

    def _after(self, leg_id: str, step: PostageStep, cancelled_at: datetime, *, failed: bool = False) -> PostageStep:
        now = utcnow()
        watch = timedelta(days=self.profiles.postage_watch_days)
        self._record(leg_id, domain.next_postage_check(
            step, now, cancelled_at, retry=timedelta(seconds=self.profiles.booking_retry_seconds),
            watch=watch, failed=failed),
            abandoned=now if domain.postage_watch_ended(step, now, cancelled_at, watch=watch, failed=failed) else None)
        return step

    def _record(self, leg_id: str, when: datetime | None, *, abandoned: datetime | None = None) -> None:
        with self.db.unit_of_work() as session:
            leg = lock_leg(session, leg_id)
            leg.postage_check_at = when
            given_up = abandoned is not None and leg.postage_watch_abandoned_at is None
            if given_up:
                leg.postage_watch_abandoned_at = abandoned
            notice_id, cancelled_at = leg.payment_notice_id, leg.closed_at
        if given_up:  # committed: said once per leg (the row was locked)
            log.error("logistics poll gave up watching the closed postage notice %s of cancelled leg %s for a late "
                      "payment: %d days since the cancel at %s; a payment arriving later is not refunded unless "
                      "finance does it (postage_watch_abandoned_at is set)", notice_id, leg_id,
                      self.profiles.postage_watch_days, cancelled_at.isoformat() if cancelled_at else "?")
            WATCHES_ABANDONED.inc()
