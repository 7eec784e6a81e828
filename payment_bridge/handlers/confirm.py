"""A platform's payment confirmation (flow 4): by callback, by the poller's query, or found while closing.

`callback` takes the platform's raw request and returns the platform's answer: its signature is
verified on the raw body before anything is parsed (non-tax MAC; WeChat RSA signature, 5-minute
window, AES-256-GCM); a payment is applied once per platform transaction id, a refund outcome goes to
the refund handler. Answers are in the platform's format (non-tax 8001 GBK XML with MAC; WeChat
`{"code": "SUCCESS"}` or 4xx/5xx `{"code": "FAIL", "message": ...}`); every refusal is logged with its
error code, identifiers masked.

`apply` loads the notice (locked) and what was recorded for the transaction, asks
`domain.decide_confirmation`, and applies its decision in the same transaction (the decision itself is
pure; it is taken under the row lock so that two deliveries cannot both apply). A payment of a closed
notice is recorded (`paid_after_close`, see `payment_bridge.handlers.close`) and then refused with
`NoticeClosed`, every time the same transaction comes back.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kernel.clock import utcnow
from payment_bridge.domain import APPLIED, DUPLICATE, DUPLICATE_PAYMENT, PAID_AFTER_CLOSE, UNAPPLIED, \
    decide_confirmation
from payment_bridge.errors import PaymentError
from payment_bridge.platforms.base import CallbackAnswer, ConfirmedPayment
from store.models.payment import PaymentConfirmation, PaymentNotice

log = logging.getLogger("govlink.payments")
callback_log = logging.getLogger("govlink.payments.callbacks")


@dataclass
class ApplyOutcome:
    """What applying a confirmation did: applied, duplicate (same transaction again), duplicate_payment, unapplied."""

    outcome: str
    notice_id: str | None = None


class ConfirmPayment:
    def __init__(self, db, platforms: dict, ledger, refunds):
        self.db = db
        self.platforms = platforms
        self.ledger = ledger
        self.refunds = refunds

    def callback(self, platform_name: str, headers, raw: bytes, *, remote_addr: str | None = None
                 ) -> CallbackAnswer | None:
        """Handle a platform's callback; returns the platform's answer (None: no such platform)."""
        platform = self.platforms.get(platform_name)
        if platform is None:
            return None
        callback = None
        try:
            callback = platform.parse_callback(headers, raw)
            if callback.kind == "payment":
                outcome = self.apply(platform_name, callback.payment, source="callback")
                callback_log.info("payment callback %s: %s", platform_name, outcome.outcome,
                                  extra={"platform": platform_name, "outcome": outcome.outcome,
                                         "transaction_id": callback.payment.transaction_id})
            elif callback.kind == "refund":
                self.refunds.apply_update(callback.refund.refund_no, callback.refund.status,
                                          callback.refund.platform_refund_id)
            return platform.callback_answer(callback, True, "ok", "ok")
        except PaymentError as exc:
            callback_log.warning("payment callback refused: %s (%s)", exc.code, exc.message,
                                 extra={"platform": platform_name, "error_code": exc.code,
                                        "remote_addr": remote_addr, **(exc.details or {})})
            return platform.callback_answer(callback, False, exc.code, exc.message)

    def apply(self, platform_name: str, payment: ConfirmedPayment, *, source: str) -> ApplyOutcome:
        """Apply a verified payment: amount and payer checked, idempotent on the transaction id.

        Raises `Refused` (unknown_notice, amount_mismatch, payer_mismatch); the caller answers the
        platform and logs it. `NoticeClosed` for a payment of a closed notice (recorded all the same).
        """
        platform = self.platforms[platform_name]
        row = None
        try:
            with self.db.unit_of_work() as session:
                seen = session.execute(select(PaymentConfirmation.outcome).where(
                    PaymentConfirmation.transaction_id == payment.transaction_id)).scalar_one_or_none()
                notice = None
                if seen is None:
                    notice_id = session.execute(select(PaymentNotice.id).where(
                        PaymentNotice.payment_code == payment.order_ref,
                        PaymentNotice.platform == platform_name)).scalar_one_or_none()
                    notice = self.ledger.lock(session, notice_id) if notice_id is not None else None
                token = platform.payer_token(notice) if notice is not None and payment.payer_token else None
                decision = decide_confirmation(notice, payment, payer_token=token, seen=seen)
                if decision.outcome == DUPLICATE:
                    return self._duplicate(session, payment, decision)
                if not decision.records:
                    raise decision.error
                self._log(decision.outcome, payment, notice)
                if decision.event is not None:
                    row = self.ledger.transition(session, notice, decision.event, details={
                        "transaction_id": payment.transaction_id, "paid_at": payment.paid_at.isoformat(),
                        "pay_mode": payment.pay_mode, "source": source},
                        change=lambda n: setattr(n, "paid_fen", payment.amount_fen))
                session.add(PaymentConfirmation(notice_id=notice.id, platform=platform_name,
                                                transaction_id=payment.transaction_id, amount_fen=payment.amount_fen,
                                                paid_at=payment.paid_at, pay_mode=payment.pay_mode, source=source,
                                                outcome=decision.outcome, received_at=utcnow()))
                session.flush()
        except (IntegrityError, StaleDataError):
            # A concurrent delivery of the same confirmation won the race: it has had its effect.
            with self.db.unit_of_work() as session:
                seen = session.execute(select(PaymentConfirmation.outcome).where(
                    PaymentConfirmation.transaction_id == payment.transaction_id)).scalar_one_or_none()
                if seen is None:
                    raise
                return self._duplicate(session, payment, decide_confirmation(None, payment, seen=seen))
        if row is not None:
            self.ledger.publish([row])
            if decision.outcome == APPLIED:
                log.info("notice %s paid (%s, via %s)", notice.id, payment.transaction_id, source)
        if decision.error is not None:
            raise decision.error
        return ApplyOutcome(decision.outcome, notice.id)

    @staticmethod
    def _duplicate(session, payment, decision) -> ApplyOutcome:
        if decision.error is not None:
            raise decision.error
        notice_id = session.execute(select(PaymentConfirmation.notice_id).where(
            PaymentConfirmation.transaction_id == payment.transaction_id)).scalar_one()
        return ApplyOutcome(DUPLICATE, notice_id)

    @staticmethod
    def _log(outcome: str, payment, notice) -> None:
        if outcome == DUPLICATE_PAYMENT:
            log.warning("second payment %s for notice %s (already %s): kept for reconciliation",
                        payment.transaction_id, notice.id, notice.status)
        elif outcome == PAID_AFTER_CLOSE:
            log.warning("payment %s for notice %s after it was closed: recorded as paid_after_close, "
                        "to be refunded", payment.transaction_id, notice.id,
                        extra={"error_code": "notice_closed", "payment_code": notice.payment_code})
        elif outcome == UNAPPLIED:
            log.warning("payment %s for notice %s in state %s not applied", payment.transaction_id,
                        notice.id, notice.status)
