"""Refunds: part or all of a paid notice, once per refund request id; the platform's outcome, pushed or polled.

One refund is in flight per notice at a time (the notice moves to refund_pending). The platform call is
made after the refund is committed as pending; a platform that does not answer leaves it pending, and
the poller resends it with the same refund number.
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kernel.clock import utcnow
from payment_bridge.domain import PAID_AFTER_CLOSE, check_refund, refund_success
from payment_bridge.errors import ChannelError, InvalidMessage, Refused
from payment_bridge.platforms.base import PlatformUnavailable
from payment_bridge.requests import refund_no_for, request_hash
from payment_bridge.states import Event
from store.models.payment import PaymentConfirmation, PaymentNotice, PaymentRefund

log = logging.getLogger("govlink.payments")


class Refunds:
    def __init__(self, db, platforms: dict, ledger):
        self.db = db
        self.platforms = platforms
        self.ledger = ledger

    def refund(self, notice_id: str, *, refund_request_id: str, amount_fen: int, reason: str | None,
               actor: str) -> tuple[PaymentRefund, bool]:
        """Refund part or all of a paid notice, once per refund request id. Returns (refund, replayed)."""
        body_hash = request_hash({"notice_id": notice_id, "amount_fen": amount_fen, "reason": reason})
        try:
            with self.db.unit_of_work() as session:
                existing = self._by_request_id(session, refund_request_id)
                if existing is not None:
                    if existing.request_hash != body_hash:
                        raise Refused(409, "refund_request_id_reused",
                                      "This refund request id was used for a different refund.")
                    return existing, True
                notice = self.ledger.lock(session, notice_id)
                pending = session.execute(select(func.coalesce(func.sum(PaymentRefund.amount_fen), 0)).where(
                    PaymentRefund.notice_id == notice.id, PaymentRefund.status == "pending")).scalar()
                check_refund(notice, pending_fen=pending, amount_fen=amount_fen)
                row = PaymentRefund(notice_id=notice.id, refund_request_id=refund_request_id,
                                    request_hash=body_hash, amount_fen=amount_fen, reason=reason,
                                    status="pending", requested_by=actor, created_at=utcnow())
                session.add(row)
                event_row = self.ledger.transition(session, notice, Event.REFUND_REQUESTED, actor=actor, details={
                    "refund_request_id": refund_request_id, "amount_fen": amount_fen})
                session.flush()
                refund_id = row.id
        except (IntegrityError, StaleDataError):
            with self.db.unit_of_work() as session:
                existing = self._by_request_id(session, refund_request_id)
            if existing is not None and existing.request_hash == body_hash:
                return existing, True
            raise Refused(409, "refund_conflict", "Another refund of this notice is in progress; retry.") from None
        self.ledger.publish([event_row])
        return self.send(refund_id), False

    def send(self, refund_id: int) -> PaymentRefund:
        """Send a pending refund to its platform (again: the same refund number refunds once)."""
        with self.db.unit_of_work() as session:
            refund = session.get(PaymentRefund, refund_id)
            notice = session.get(PaymentNotice, refund.notice_id)
        try:
            result = self.platforms[notice.platform].refund(notice, refund_no_for(refund.refund_request_id),
                                                            refund.amount_fen, refund.reason)
        except PlatformUnavailable as exc:
            log.warning("refund %s not sent yet: %s", refund.refund_request_id, exc.message)
            return refund  # still pending: the poller resends with the same refund number
        except (ChannelError, InvalidMessage) as exc:
            return self.finish(refund_id, "failed", None, exc.message[:200])
        if result.status == "processing":
            return refund
        return self.finish(refund_id, result.status, result.platform_refund_id, result.message)

    def apply_update(self, refund_no: str, status: str, platform_refund_id: str | None) -> bool:
        """A refund outcome pushed by the platform (WeChat REFUND.*); idempotent."""
        with self.db.unit_of_work() as session:
            refunds = list(session.execute(select(PaymentRefund).where(PaymentRefund.status == "pending")).scalars())
        match = next((r for r in refunds if refund_no_for(r.refund_request_id) == refund_no), None)
        if match is None:
            return False
        self.finish(match.id, status, platform_refund_id, None)
        return True

    def finish(self, refund_id: int, status: str, platform_refund_id: str | None,
               failure: str | None) -> PaymentRefund:
        """Record a refund's outcome and move its notice (refunded, partly refunded, or back where it was)."""
        with self.db.unit_of_work() as session:
            refund = session.get(PaymentRefund, refund_id)
            if refund.status != "pending":
                return refund
            notice = self.ledger.lock(session, refund.notice_id)
            details = {"refund_request_id": refund.refund_request_id, "amount_fen": refund.amount_fen}
            if status == "succeeded":
                event, refunded = refund_success(notice, amount_fen=refund.amount_fen)
                row = self.ledger.transition(session, notice, event, details=details,
                                             change=lambda n: setattr(n, "refunded_fen", refunded))
            else:
                after_close = session.execute(select(PaymentConfirmation.id).where(
                    PaymentConfirmation.notice_id == notice.id,
                    PaymentConfirmation.outcome == PAID_AFTER_CLOSE)).first() is not None
                row = self.ledger.transition(session, notice, Event.REFUND_FAILED,
                                             details=details | {"reason": failure},
                                             earlier_refunds=notice.refunded_fen > 0, paid_after_close=after_close)
            refund.status = "succeeded" if status == "succeeded" else "failed"
            refund.platform_refund_id = platform_refund_id
            refund.failure = failure
            refund.completed_at = utcnow()
        self.ledger.publish([row])
        return refund

    @staticmethod
    def _by_request_id(session, refund_request_id: str) -> PaymentRefund | None:
        return session.execute(select(PaymentRefund).where(
            PaymentRefund.refund_request_id == refund_request_id)).scalar_one_or_none()
