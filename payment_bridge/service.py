"""The payment service: moves notices through their states, with I/O at the edges (flow 4).

Each operation is short database transactions around platform calls (never an HTTP call inside a
transaction). Every state change goes through `payment_bridge.states.transition`, writes a
`PaymentNoticeEvent` in the same transaction, and is published on `govlink.events` after the commit
(the event row is the outbox: `relay_events` republishes whatever the broker did not confirm).

Concurrency: the notice row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) and carries a version
column (optimistic concurrency everywhere, SQLite included), so two refunds cannot both pass the
refundable check; payment codes come from a counter row per division and year, locked the same way.

Closing an unpaid notice, and what happens to money paid for it anyway, is `payment_bridge.closing`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bus.envelope import encode, new_envelope
from bus.outbox import Outbox
from idp.identifiers import InvalidIdentifier, identifier_kind, mask, validate_resident_id, validate_uscc
from payment_bridge import states
from payment_bridge.beijing_time import to_beijing
from payment_bridge.closing import NoticeClosing
from payment_bridge.errors import (ChannelError, IllegalTransition, InvalidMessage, NoticeClosed, PaymentError,
                                   Refused)
from payment_bridge.money import MAX_FEN
from payment_bridge.payment_code import format_payment_code
from payment_bridge.platforms.base import ConfirmedPayment, PlatformUnavailable
from payment_bridge.states import Event, State
from store.models.payment import (PaymentCodeCounter, PaymentConfirmation, PaymentIdempotencyKey, PaymentNotice,
                                  PaymentNoticeEvent, PaymentReceipt, PaymentRefund, PaymentStatement,
                                  PaymentStatementLine)

log = logging.getLogger("govlink.payments")

CLIENT = "govlink/payment-bridge"
PAID_STATES = frozenset({State.PAID, State.REFUND_PENDING, State.PARTLY_REFUNDED, State.REFUNDED,
                         State.PAID_AFTER_CLOSE})
MAX_ITEMS = 100
RECEIPT_DAYS = 30  # the poller fetches missing e-receipts of notices changed this recently (as it polls payments)
PAID_AFTER_CLOSE = str(State.PAID_AFTER_CLOSE)  # also the confirmation's outcome


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    unit: str
    unit_price_fen: int
    quantity: int

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity


@dataclass(frozen=True)
class NoticeRequest:
    agency_code: str
    payer_key: str
    payer_name: str
    items: tuple[Item, ...]
    case_id: str | None = None
    due_at: datetime | None = None
    platform: str | None = None


@dataclass
class ApplyOutcome:
    """What applying a confirmation did: applied, duplicate (same transaction again), duplicate_payment, unapplied."""

    outcome: str
    notice_id: str | None = None


@dataclass
class PollReport:
    registered: int = 0
    paid: int = 0
    expired: int = 0
    cancelled: int = 0
    paid_after_close: int = 0
    receipts: int = 0
    refunds_retried: int = 0
    republished: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("registered", "paid", "expired", "cancelled", "paid_after_close",
                                               "receipts", "refunds_retried", "republished")} | {"errors": self.errors}


def request_hash(data) -> str:
    """SHA-256 of a request body in a canonical JSON form (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


def refund_no_for(refund_request_id: str) -> str:
    """The platform-side refund number of a refund request id (32 chars, fits both platforms)."""
    return "R" + hashlib.sha256(refund_request_id.encode()).hexdigest()[:31]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class PaymentService(NoticeClosing):
    def __init__(self, db, profiles, platforms: dict, *, publisher=None, message_log=None,
                 publish_timeout: float = 10.0):
        self.db = db
        self.profiles = profiles
        self.platforms = platforms
        self.publisher = publisher
        self.message_log = message_log
        self.outbox = Outbox(db, PaymentNoticeEvent, publisher, message_log, publish_timeout)

    # ================================================================== create
    def create_notice(self, request: NoticeRequest, *, caller: str, actor: str | None,
                      idempotency_key: str, body_hash: str) -> tuple[PaymentNotice, dict | None, bool]:
        """Create and register a notice once per (caller, Idempotency-Key).

        Returns (notice, stored response or None, replayed). Same key with another body: `Refused(409)`.
        """
        payer_key, payer_kind = self._check_request(request)
        platform_name = request.platform or self.profiles.default_platform
        for _attempt in range(3):
            with self.db.unit_of_work() as session:
                existing = session.get(PaymentIdempotencyKey, (caller, idempotency_key))
                if existing is not None:
                    if existing.request_hash != body_hash:
                        raise Refused(409, "idempotency_key_reused",
                                      "This Idempotency-Key was used with a different request body; use a new key.")
                    return session.get(PaymentNotice, existing.notice_id), existing.response, True
            try:
                notice = self._insert_notice(request, payer_key, payer_kind, platform_name, caller, actor,
                                             idempotency_key, body_hash)
                break
            except IntegrityError:
                continue  # a concurrent request with the same key won: read its result
        else:
            raise Refused(409, "idempotency_conflict", "Concurrent requests with this Idempotency-Key; retry.")
        return self.register(notice.id), None, False

    def _check_request(self, request: NoticeRequest) -> tuple[str, str]:
        if request.agency_code not in self.profiles.agencies:
            raise Refused(422, "unknown_agency", f"No collecting agency {request.agency_code!r} is configured.")
        if request.platform is not None and request.platform not in self.platforms:
            raise Refused(422, "unknown_platform", f"No payment platform {request.platform!r}.")
        try:
            kind = identifier_kind(request.payer_key)
            payer_key = validate_resident_id(request.payer_key) if kind == "resident_id" else validate_uscc(request.payer_key)
        except InvalidIdentifier as exc:
            raise Refused(422, "invalid_payer_key", str(exc), {"rule": exc.code}) from None
        if not 1 <= len(request.items) <= MAX_ITEMS:
            raise Refused(422, "invalid_items", f"A notice needs 1 to {MAX_ITEMS} items.")
        for item in request.items:
            if item.unit_price_fen <= 0 or item.quantity <= 0:
                raise Refused(422, "invalid_items", "Unit prices (fen) and quantities must be positive.")
            if any(sep in text for text in (item.name, item.unit) for sep in "|#"):
                raise Refused(422, "invalid_items", "Item names and units must not contain | or #.")
        total = sum(item.amount_fen for item in request.items)
        if total > MAX_FEN:
            raise Refused(422, "invalid_amount", "The total is above the maximum amount.")
        if request.due_at is not None and request.due_at <= utcnow():
            raise Refused(422, "invalid_due_at", "due_at must be in the future.")
        return payer_key, ("resident" if kind == "resident_id" else "enterprise")

    def _insert_notice(self, request, payer_key, payer_kind, platform_name, caller, actor, key, body_hash):
        now = utcnow()
        with self.db.unit_of_work() as session:
            code = self._next_payment_code(session, now)
            notice = PaymentNotice(
                id=str(uuid.uuid4()), agency_code=request.agency_code,
                agency_name=self.profiles.agencies[request.agency_code], adm_div_code=self.profiles.division,
                payer_key=payer_key, payer_kind=payer_kind, payer_name=request.payer_name,
                items=[{"code": i.code, "name": i.name, "unit": i.unit, "unit_price_fen": i.unit_price_fen,
                        "quantity": i.quantity, "amount_fen": i.amount_fen} for i in request.items],
                total_fen=sum(i.amount_fen for i in request.items), paid_fen=0, refunded_fen=0,
                case_id=request.case_id,
                due_at=request.due_at or now + timedelta(days=self.profiles.due_days),
                status=str(states.INITIAL_STATE), payment_code=code, platform=platform_name,
                created_by=actor or caller, created_at=now, updated_at=now,
            )
            session.add(notice)
            session.flush()
            session.add(PaymentIdempotencyKey(caller=caller, key=key, request_hash=body_hash, notice_id=notice.id,
                                              created_at=now))
            session.flush()
        log.info("payment notice %s created (payer %s, %d fen)", notice.id, mask(payer_key), notice.total_fen)
        return notice

    def _next_payment_code(self, session, now: datetime) -> str:
        """The next 缴款码 of our division for this (Beijing) year; the counter row serialises issuers."""
        division, year = self.profiles.division, to_beijing(now).year
        for _ in range(5):
            seq = session.execute(
                update(PaymentCodeCounter)
                .where(PaymentCodeCounter.division == division, PaymentCodeCounter.year == year)
                .values(last_sequence=PaymentCodeCounter.last_sequence + 1)
                .returning(PaymentCodeCounter.last_sequence)
            ).scalar_one_or_none()
            if seq is not None:
                return format_payment_code(self.profiles.code_profile, division, year, seq)
            try:
                with session.begin_nested():
                    session.add(PaymentCodeCounter(division=division, year=year, last_sequence=0))
            except IntegrityError:
                pass  # another issuer created the row first; take the next number from it
        raise Refused(503, "payment_code_unavailable", "Could not issue a payment code; retry.")

    def store_response(self, caller: str, key: str, status_code: int, response: dict) -> None:
        """Keep the answer to the first request with this key, for replays."""
        with self.db.unit_of_work() as session:
            row = session.get(PaymentIdempotencyKey, (caller, key))
            if row is not None and row.response is None:
                row.status_code, row.response = status_code, response

    # ================================================================== register
    def register(self, notice_id: str) -> PaymentNotice:
        """Register a created notice with its platform; a silent platform leaves it for the poller."""
        notice = self.get(notice_id)
        if notice.status != State.CREATED:
            return notice
        platform = self.platforms[notice.platform]
        try:
            registration = platform.register(notice)
        except PlatformUnavailable as exc:
            log.warning("notice %s not registered yet: %s", notice.id, exc.message)
            return notice
        except (ChannelError, InvalidMessage) as exc:
            return self._move(notice.id, Event.REGISTRATION_FAILED, details={"reason": exc.message[:200],
                                                                             "code": exc.code})
        return self._move(notice.id, Event.REGISTERED, details={"pay_url": registration.pay_url},
                          change=lambda n: (setattr(n, "platform_ref", registration.platform_ref),
                                            setattr(n, "pay_url", registration.pay_url)))

    # ================================================================== reading
    def get(self, notice_id: str) -> PaymentNotice | None:
        with self.db.unit_of_work() as session:
            return session.get(PaymentNotice, notice_id)

    def history(self, notice_id: str) -> list[PaymentNoticeEvent]:
        with self.db.unit_of_work() as session:
            return list(session.execute(select(PaymentNoticeEvent).where(PaymentNoticeEvent.notice_id == notice_id)
                                        .order_by(PaymentNoticeEvent.seq)).scalars())

    def refunds_of(self, notice_id: str) -> list[PaymentRefund]:
        with self.db.unit_of_work() as session:
            return list(session.execute(select(PaymentRefund).where(PaymentRefund.notice_id == notice_id)
                                        .order_by(PaymentRefund.id)).scalars())

    def notices_of(self, payer_keys: list[str], *, limit: int = 100, offset: int = 0) -> list[PaymentNotice]:
        if not payer_keys:
            return []
        with self.db.unit_of_work() as session:
            return list(session.execute(select(PaymentNotice).where(PaymentNotice.payer_key.in_(payer_keys))
                                        .order_by(PaymentNotice.created_at.desc(), PaymentNotice.id)
                                        .limit(limit).offset(offset)).scalars())

    # ================================================================== transitions
    def _move(self, notice_id: str, event: Event, *, details: dict | None = None, actor: str | None = None,
              change=None, earlier_refunds: bool = False) -> PaymentNotice:
        """One transition in its own transaction, then publish its event."""
        with self.db.unit_of_work() as session:
            notice = self._lock(session, notice_id)
            row = self._transition(session, notice, event, details=details, actor=actor, change=change,
                                   earlier_refunds=earlier_refunds)
        self._publish([row])
        return notice

    @staticmethod
    def _lock(session, notice_id: str) -> PaymentNotice:
        notice = session.execute(select(PaymentNotice).where(PaymentNotice.id == notice_id)
                                 .with_for_update()).scalar_one_or_none()
        if notice is None:
            raise Refused(404, "unknown_notice", "No such payment notice.")
        return notice

    def _transition(self, session, notice: PaymentNotice, event: Event, *, details: dict | None = None,
                    actor: str | None = None, change=None, earlier_refunds: bool = False,
                    paid_after_close: bool = False) -> PaymentNoticeEvent:
        """Move `notice` (locked, in `session`) on `event` and write the event row (the outbox)."""
        previous = notice.status
        target = states.transition(previous, event, earlier_refunds=earlier_refunds,  # IllegalTransition
                                   paid_after_close=paid_after_close)
        if change is not None:
            change(notice)
        now = utcnow()
        notice.status = str(target)
        notice.updated_at = now
        seq = (session.execute(select(func.max(PaymentNoticeEvent.seq))
                               .where(PaymentNoticeEvent.notice_id == notice.id)).scalar() or 0) + 1
        payload = {
            "notice_id": notice.id, "payment_code": notice.payment_code, "platform": notice.platform,
            "agency_code": notice.agency_code, "payer_kind": notice.payer_kind, "payer": mask(notice.payer_key),
            "status": str(target), "previous_status": previous, "total_fen": notice.total_fen,
            "paid_fen": notice.paid_fen, "refunded_fen": notice.refunded_fen, "seq": seq,
            "occurred_at": now.isoformat(), **(details or {}),
        }
        envelope = new_envelope(event.value, payload, client=CLIENT, case_id=notice.case_id,
                                user=actor, correlation_id=notice.id)
        row = PaymentNoticeEvent(notice_id=notice.id, seq=seq, event_type=event.value, from_state=previous,
                                 to_state=str(target), actor=actor, details=details or {}, occurred_at=now,
                                 message_id=envelope["message_id"], envelope=encode(envelope).decode())
        session.add(row)
        session.flush()
        return row

    # ================================================================== publishing (outbox)
    def _publish(self, rows: list[PaymentNoticeEvent]) -> int:
        """Publish event rows after their commit (see bus.outbox)."""
        return self.outbox.publish(rows)

    def relay_events(self, *, older_than_seconds: float = 5.0, limit: int = 500) -> int:
        """Publish events whose earlier publication was not confirmed (receivers dedupe on message_id)."""
        return self.outbox.relay(older_than_seconds=older_than_seconds, limit=limit)

    # ================================================================== confirmations
    def apply_confirmation(self, platform_name: str, payment: ConfirmedPayment, *, source: str) -> ApplyOutcome:
        """Apply a verified payment: amount and payer checked, idempotent on the transaction id.

        Raises `Refused` (unknown_notice, amount_mismatch, payer_mismatch); the caller answers the
        platform and logs it. A payment of a closed notice is recorded (the notice moves to
        `paid_after_close`, see payment_bridge.closing) and then refused with `NoticeClosed`, every
        time the same transaction comes back.
        """
        platform = self.platforms[platform_name]
        try:
            with self.db.unit_of_work() as session:
                seen = session.execute(select(PaymentConfirmation).where(
                    PaymentConfirmation.transaction_id == payment.transaction_id)).scalar_one_or_none()
                if seen is not None:
                    if seen.outcome == PAID_AFTER_CLOSE:
                        raise _closed(payment.order_ref)
                    return ApplyOutcome("duplicate", seen.notice_id)
                notice_id = session.execute(select(PaymentNotice.id).where(
                    PaymentNotice.payment_code == payment.order_ref,
                    PaymentNotice.platform == platform_name)).scalar_one_or_none()
                if notice_id is None:
                    raise Refused(404, "unknown_notice", "No notice has this payment code on this platform.",
                                  {"payment_code": payment.order_ref})
                notice = self._lock(session, notice_id)
                if payment.amount_fen != notice.total_fen:
                    raise Refused(422, "amount_mismatch",
                                  f"Paid {payment.amount_fen} fen but the notice is for {notice.total_fen} fen.",
                                  {"payment_code": notice.payment_code})
                if payment.payer_token is not None and payment.payer_token != platform.payer_token(notice):
                    raise Refused(422, "payer_mismatch", "The payer of the payment is not the payer of the notice.",
                                  {"payment_code": notice.payment_code})
                row = event = None
                if notice.status in PAID_STATES:
                    outcome = "duplicate_payment"  # a second payment of one code: reconciliation (DUPLICATE)
                    log.warning("second payment %s for notice %s (already %s): kept for reconciliation",
                                payment.transaction_id, notice.id, notice.status)
                elif notice.status == State.CANCELLED:
                    outcome, event = PAID_AFTER_CLOSE, Event.PAID_AFTER_CLOSE  # money for a closed notice: owed back
                    log.warning("payment %s for notice %s after it was closed: recorded as paid_after_close, "
                                "to be refunded", payment.transaction_id, notice.id,
                                extra={"error_code": "notice_closed", "payment_code": notice.payment_code})
                elif Event.PAID not in states.allowed_events(notice.status):
                    outcome = "unapplied"  # e.g. paid though the platform refused it: STATUS_MISMATCH
                    log.warning("payment %s for notice %s in state %s not applied", payment.transaction_id,
                                notice.id, notice.status)
                else:
                    outcome, event = "applied", Event.PAID
                if event is not None:
                    row = self._transition(session, notice, event, details={
                        "transaction_id": payment.transaction_id, "paid_at": payment.paid_at.isoformat(),
                        "pay_mode": payment.pay_mode, "source": source},
                        change=lambda n: setattr(n, "paid_fen", payment.amount_fen))
                session.add(PaymentConfirmation(notice_id=notice.id, platform=platform_name,
                                                transaction_id=payment.transaction_id, amount_fen=payment.amount_fen,
                                                paid_at=payment.paid_at, pay_mode=payment.pay_mode, source=source,
                                                outcome=outcome, received_at=utcnow()))
                session.flush()
        except (IntegrityError, StaleDataError):
            # A concurrent delivery of the same confirmation won the race: it has had its effect.
            with self.db.unit_of_work() as session:
                seen = session.execute(select(PaymentConfirmation).where(
                    PaymentConfirmation.transaction_id == payment.transaction_id)).scalar_one_or_none()
            if seen is None:
                raise
            if seen.outcome == PAID_AFTER_CLOSE:
                raise _closed(payment.order_ref) from None
            return ApplyOutcome("duplicate", seen.notice_id)
        if row is not None:
            self._publish([row])
        if outcome == PAID_AFTER_CLOSE:
            raise _closed(notice.payment_code)
        if row is not None:
            log.info("notice %s paid (%s, via %s)", notice.id, payment.transaction_id, source)
        return ApplyOutcome(outcome, notice.id)

    def apply_refund_update(self, refund_no: str, status: str, platform_refund_id: str | None) -> bool:
        """A refund outcome pushed by the platform (WeChat REFUND.*); idempotent."""
        with self.db.unit_of_work() as session:
            refunds = list(session.execute(select(PaymentRefund).where(PaymentRefund.status == "pending")).scalars())
        match = next((r for r in refunds if refund_no_for(r.refund_request_id) == refund_no), None)
        if match is None:
            return False
        self._finish_refund(match.id, status, platform_refund_id, None)
        return True

    # ================================================================== refunds
    def refund(self, notice_id: str, *, refund_request_id: str, amount_fen: int, reason: str | None,
               actor: str) -> tuple[PaymentRefund, bool]:
        """Refund part or all of a paid notice, once per refund request id. Returns (refund, replayed)."""
        body_hash = request_hash({"notice_id": notice_id, "amount_fen": amount_fen, "reason": reason})
        try:
            with self.db.unit_of_work() as session:
                existing = session.execute(select(PaymentRefund).where(
                    PaymentRefund.refund_request_id == refund_request_id)).scalar_one_or_none()
                if existing is not None:
                    if existing.request_hash != body_hash:
                        raise Refused(409, "refund_request_id_reused",
                                      "This refund request id was used for a different refund.")
                    return existing, True
                notice = self._lock(session, notice_id)
                pending = session.execute(select(func.coalesce(func.sum(PaymentRefund.amount_fen), 0)).where(
                    PaymentRefund.notice_id == notice.id, PaymentRefund.status == "pending")).scalar()
                refundable = notice.paid_fen - notice.refunded_fen - pending
                if Event.REFUND_REQUESTED not in states.allowed_events(notice.status):
                    raise Refused(409, "refund_not_allowed",
                                  f"A notice in state {notice.status} cannot be refunded"
                                  + (" (a refund is in progress)." if notice.status == State.REFUND_PENDING else "."),
                                  {"status": notice.status, "refundable_fen": max(refundable, 0)})
                if amount_fen <= 0 or amount_fen > refundable:
                    raise Refused(409, "refund_exceeds_refundable",
                                  f"At most {refundable} fen can still be refunded.", {"refundable_fen": refundable})
                self_row = PaymentRefund(notice_id=notice.id, refund_request_id=refund_request_id,
                                         request_hash=body_hash, amount_fen=amount_fen, reason=reason,
                                         status="pending", requested_by=actor, created_at=utcnow())
                session.add(self_row)
                event_row = self._transition(session, notice, Event.REFUND_REQUESTED, actor=actor, details={
                    "refund_request_id": refund_request_id, "amount_fen": amount_fen})
                session.flush()
                refund_id = self_row.id
        except (IntegrityError, StaleDataError):
            with self.db.unit_of_work() as session:
                existing = session.execute(select(PaymentRefund).where(
                    PaymentRefund.refund_request_id == refund_request_id)).scalar_one_or_none()
            if existing is not None and existing.request_hash == body_hash:
                return existing, True
            raise Refused(409, "refund_conflict", "Another refund of this notice is in progress; retry.") from None
        self._publish([event_row])
        return self._send_refund(refund_id), False

    def _send_refund(self, refund_id: int) -> PaymentRefund:
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
            return self._finish_refund(refund_id, "failed", None, exc.message[:200])
        if result.status == "processing":
            return refund
        return self._finish_refund(refund_id, result.status, result.platform_refund_id, result.message)

    def _finish_refund(self, refund_id: int, status: str, platform_refund_id: str | None,
                       failure: str | None) -> PaymentRefund:
        with self.db.unit_of_work() as session:
            refund = session.get(PaymentRefund, refund_id)
            if refund.status != "pending":
                return refund
            notice = self._lock(session, refund.notice_id)
            details = {"refund_request_id": refund.refund_request_id, "amount_fen": refund.amount_fen}
            if status == "succeeded":
                refunded = notice.refunded_fen + refund.amount_fen
                event = Event.REFUNDED if refunded >= notice.paid_fen else Event.PARTLY_REFUNDED
                row = self._transition(session, notice, event, details=details,
                                       change=lambda n: setattr(n, "refunded_fen", refunded))
            else:
                after_close = session.execute(select(PaymentConfirmation.id).where(
                    PaymentConfirmation.notice_id == notice.id,
                    PaymentConfirmation.outcome == PAID_AFTER_CLOSE)).first() is not None
                row = self._transition(session, notice, Event.REFUND_FAILED, details=details | {"reason": failure},
                                       earlier_refunds=notice.refunded_fen > 0, paid_after_close=after_close)
            refund.status = "succeeded" if status == "succeeded" else "failed"
            refund.platform_refund_id = platform_refund_id
            refund.failure = failure
            refund.completed_at = utcnow()
        self._publish([row])
        return refund

    # ================================================================== receipts
    def receipt(self, notice_id: str, *, fetch: bool = True) -> PaymentReceipt | None:
        """The notice's fiscal e-receipt, fetched from the platform if we do not have it yet."""
        with self.db.unit_of_work() as session:
            stored = session.get(PaymentReceipt, notice_id)
            notice = session.get(PaymentNotice, notice_id)
        if stored is not None or not fetch or notice is None or notice.status not in PAID_STATES:
            return stored
        info = self.platforms[notice.platform].fetch_receipt(notice)
        if info is None:
            return None
        try:
            with self.db.unit_of_work() as session:
                session.add(PaymentReceipt(notice_id=notice_id, ebill_code=info.ebill_code, ebill_no=info.ebill_no,
                                           check_code=info.check_code, issue_date=info.issue_date,
                                           download_url=info.download_url, fetched_at=utcnow()))
        except IntegrityError:
            pass  # fetched concurrently
        with self.db.unit_of_work() as session:
            return session.get(PaymentReceipt, notice_id)

    # ================================================================== polling
    def poll(self, *, now: datetime | None = None, limit: int = 200) -> PollReport:
        """Find what callbacks missed: unregistered notices, payments whose confirmation never came,
        overdue notices, pending refunds, missing receipts, unpublished events."""
        now = now or utcnow()
        report = PollReport()
        settle = now - timedelta(seconds=self.profiles.poll_after_seconds)
        with self.db.unit_of_work() as session:
            created = list(session.execute(select(PaymentNotice.id).where(PaymentNotice.status == State.CREATED)
                                           .limit(limit)).scalars())
            # Closed notices too, where the platform could not withdraw them: they stay payable there.
            waiting = list(session.execute(select(PaymentNotice).where(
                or_(PaymentNotice.status.in_([State.REGISTERED, State.EXPIRED]),
                    and_(PaymentNotice.status == State.CANCELLED, PaymentNotice.platform.in_(self.closed_here_only))),
                PaymentNotice.updated_at < settle,
                PaymentNotice.due_at > now - timedelta(days=30)).order_by(PaymentNotice.updated_at).limit(limit)).scalars())
            refunds = list(session.execute(select(PaymentRefund.id).where(
                PaymentRefund.status == "pending", PaymentRefund.created_at < settle).limit(limit)).scalars())
            # Receipts missed in the last RECEIPT_DAYS (a range of ix_payment_notices_platform_updated_at):
            # the tick reads the recent notices, never every paid notice in the history (issue 18).
            no_receipt = list(session.execute(select(PaymentNotice.id).outerjoin(
                PaymentReceipt, PaymentReceipt.notice_id == PaymentNotice.id).where(
                PaymentNotice.status.in_(sorted(PAID_STATES)), PaymentNotice.platform == "nontax",
                PaymentNotice.updated_at > now - timedelta(days=RECEIPT_DAYS),
                PaymentReceipt.notice_id.is_(None)).limit(limit)).scalars())
        for notice_id in created:
            self._guard(report, lambda: self.register(notice_id).status == State.REGISTERED and _inc(report, "registered"))
        for notice in waiting:
            if not self._guard(report, lambda: self._poll_one(notice, now, report)):
                # A notice the platform keeps refusing goes to the back of the queue: otherwise
                # `limit` such notices would be asked about first on every poll, and nothing else.
                self._touch(notice.id)
        for refund_id in refunds:
            self._guard(report, lambda: (_inc(report, "refunds_retried"), self._send_refund(refund_id)))
        for notice_id in no_receipt:
            self._guard(report, lambda: self.receipt(notice_id) is not None and _inc(report, "receipts"))
        report.republished = self.relay_events()
        return report

    def _poll_one(self, notice: PaymentNotice, now: datetime, report: PollReport) -> None:
        platform = self.platforms[notice.platform]
        result = platform.query(notice)
        if result.payment is not None:
            try:
                if self.apply_confirmation(notice.platform, result.payment, source="poll").outcome == "applied":
                    report.paid += 1
            except NoticeClosed:
                report.paid_after_close += 1
        elif result.state == State.CANCELLED and notice.status == State.REGISTERED:
            self._move(notice.id, Event.CANCELLED, details={"source": "poll"})
            report.cancelled += 1
        elif notice.status == State.REGISTERED and (result.state == State.EXPIRED or notice.due_at <= now):
            if result.state != State.EXPIRED:
                platform.close(notice)
            self._move(notice.id, Event.EXPIRED, details={"source": "poll"})
            report.expired += 1
        else:
            self._touch(notice.id)

    def _touch(self, notice_id: str) -> None:
        """Note that we asked (so the next poll starts with notices asked about longest ago)."""
        with self.db.unit_of_work() as session:
            notice = session.get(PaymentNotice, notice_id)
            notice.updated_at = utcnow()

    @staticmethod
    def _guard(report: PollReport, action) -> bool:
        """Run `action`; on a payment error note it in the report and return False."""
        try:
            action()
        except (PaymentError, IllegalTransition, StaleDataError) as exc:
            report.errors.append(f"{type(exc).__name__}: {getattr(exc, 'message', str(exc))}"[:200])
            return False
        return True

    # ================================================================== statements
    def import_statement(self, platform_name: str, day: date) -> tuple[PaymentStatement, bool]:
        """Download the day's statement / bill, keep it unchanged with its SHA-256, store its lines.

        Returns (statement, created); the same file twice is imported once.
        """
        downloaded = self.platforms[platform_name].download_statement(day)
        digest = hashlib.sha256(downloaded.raw).hexdigest()
        try:
            with self.db.unit_of_work() as session:
                existing = session.execute(select(PaymentStatement).where(
                    PaymentStatement.platform == platform_name, PaymentStatement.sha256 == digest)).scalar_one_or_none()
                if existing is not None:
                    return existing, False
                statement = PaymentStatement(platform=platform_name, statement_date=downloaded.statement_date,
                                             sha256=digest, raw=downloaded.raw, line_count=len(downloaded.lines),
                                             imported_at=utcnow())
                session.add(statement)
                session.flush()
                session.add_all(PaymentStatementLine(
                    statement_id=statement.id, line_no=line.line_no, order_ref=line.order_ref,
                    transaction_id=line.transaction_id, refund_ref=line.refund_ref, amount_fen=line.amount_fen,
                    fee_fen=line.fee_fen, status=line.status, paid_at=line.paid_at) for line in downloaded.lines)
        except IntegrityError:
            with self.db.unit_of_work() as session:
                return session.execute(select(PaymentStatement).where(
                    PaymentStatement.platform == platform_name, PaymentStatement.sha256 == digest)).scalar_one(), False
        return statement, True


def _closed(payment_code: str) -> NoticeClosed:
    return NoticeClosed(409, "notice_closed", f"Payment notice {payment_code} was closed before this payment: "
                        "the payment is recorded for a refund, not applied.",
                        {"payment_code": payment_code, "status": str(State.PAID_AFTER_CLOSE)})


def _inc(report: PollReport, name: str) -> bool:
    setattr(report, name, getattr(report, name) + 1)
    return True
