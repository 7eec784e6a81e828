"""Notice state changes: the one place a notice moves, and its outbox (flow 4).

Every state change goes through `payment_bridge.states.transition`, writes a `PaymentNoticeEvent` in the
same transaction, and is published on `govlink.events` after the commit (the event row is the outbox:
`relay` republishes whatever the broker did not confirm).

Concurrency: the notice row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) and carries a version
column (optimistic concurrency everywhere, SQLite included), so two refunds cannot both pass the
refundable check.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bus.envelope import encode, new_envelope
from bus.outbox import Outbox
from kernel.clock import utcnow
from kernel.identifiers import mask
from payment_bridge import states
from payment_bridge.domain import asks_platform, searches_receipt
from payment_bridge.errors import Refused
from payment_bridge.states import Event
from store.models.payment import PaymentNotice, PaymentNoticeEvent

CLIENT = "govlink/payment-bridge"


class NoticeLedger:
    """Locks, moves and publishes notices; the handlers share one."""

    def __init__(self, db, publisher=None, message_log=None, publish_timeout: float = 10.0,
                 settle: timedelta = timedelta(seconds=60)):
        self.db = db
        self.settle = settle  # how long a callback is waited for before the poller asks (poll_after_seconds)
        self.outbox = Outbox(db, PaymentNoticeEvent, publisher, message_log, publish_timeout)

    @staticmethod
    def lock(session, notice_id: str) -> PaymentNotice:
        """The notice, locked for this transaction; `Refused` 404 if there is none."""
        notice = session.execute(select(PaymentNotice).where(PaymentNotice.id == notice_id)
                                 .with_for_update()).scalar_one_or_none()
        if notice is None:
            raise Refused(404, "unknown_notice", "No such payment notice.")
        return notice

    def transition(self, session, notice: PaymentNotice, event: Event, *, details: dict | None = None,
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
        # The poller's checks (`handlers.poll`): the platform asked after a waiting notice once it settled,
        # an e-receipt looked for at once.
        notice.platform_check_at = now + self.settle if asks_platform(target) else None
        if searches_receipt(notice.platform, target):  # a new window to find its e-receipt in
            notice.receipt_check_at, notice.receipt_search_abandoned_at = now, None
        else:
            notice.receipt_check_at = None
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

    def move(self, notice_id: str, event: Event, *, details: dict | None = None, actor: str | None = None,
             change=None, earlier_refunds: bool = False) -> PaymentNotice:
        """One transition in its own transaction, then publish its event."""
        with self.db.unit_of_work() as session:
            notice = self.lock(session, notice_id)
            row = self.transition(session, notice, event, details=details, actor=actor, change=change,
                                  earlier_refunds=earlier_refunds)
        self.publish([row])
        return notice

    def publish(self, rows: list[PaymentNoticeEvent]) -> int:
        """Publish event rows after their commit (see bus.outbox)."""
        return self.outbox.publish(rows)

    def relay(self, *, older_than_seconds: float = 5.0, limit: int = 500) -> int:
        """Publish events whose earlier publication was not confirmed (receivers dedupe on message_id)."""
        return self.outbox.relay(older_than_seconds=older_than_seconds, limit=limit)
