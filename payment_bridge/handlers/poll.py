"""The poller: finds what callbacks missed (the scheduler's `payments.poll`, `govlink payments poll`).

Unregistered notices, payments whose confirmation never came, overdue notices, pending refunds, missing
e-receipts, unpublished events. What to do with each platform answer is `domain.decide_poll`.

A notice a payment may reach unseen (registered, expired, cancelled where the platform could not withdraw it)
is asked after when its `platform_check_at` is due (set by `NoticeLedger.transition` once a callback had time
to come); `domain.next_platform_check` moves it on: sooner while the notice is young, at most hourly while it
is payable, until 30 days after its due date.

A paid non-tax notice's e-receipt is looked for when its `receipt_check_at` is due (set as the notice is
paid, see `NoticeLedger.transition`); `domain.receipt_check` says what to do: nothing (found), ask the
platform and look again later, or, RECEIPT_DAYS after the notice last changed, give the search up loudly,
once per notice: `receipt_search_abandoned_at` is set, an ERROR line names the notice (payment code masked)
and `govlink_payments_receipt_search_abandoned_total` counts it. A tick reads only the due checks (a partial
index), never the month of paid notices behind them (issue 18); the due rows are taken with SKIP LOCKED and
moved on in the same transaction, so two pollers do not take the same, and a poller that was down finds every
check it missed still due.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm.exc import StaleDataError

from kernel.clock import utcnow
from kernel.identifiers import mask
from payment_bridge.domain import APPLIED, RECEIPT_DAYS, PollAction, decide_poll, next_platform_check, receipt_check
from payment_bridge.errors import IllegalTransition, NoticeClosed, PaymentError
from payment_bridge.states import Event, State
from store.models.payment import PaymentNotice, PaymentReceipt, PaymentRefund

log = logging.getLogger("govlink.payments")
RECEIPTS_ABANDONED = Counter("govlink_payments_receipt_search_abandoned_total",
                             "Paid non-tax notices whose missing e-receipt the poller stopped searching "
                             "(RECEIPT_DAYS after their last change; receipt_search_abandoned_at is set)")


@dataclass
class PollReport:
    registered: int = 0
    paid: int = 0
    expired: int = 0
    cancelled: int = 0
    paid_after_close: int = 0
    receipts: int = 0
    receipts_abandoned: int = 0
    refunds_retried: int = 0
    republished: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("registered", "paid", "expired", "cancelled", "paid_after_close", "receipts",
                                              "receipts_abandoned", "refunds_retried", "republished")} \
            | {"errors": self.errors}

    def count(self, name: str) -> bool:
        setattr(self, name, getattr(self, name) + 1)
        return True


class Poller:
    def __init__(self, db, profiles, platforms: dict, ledger, *, create, confirm, refunds, reads, close):
        self.db = db
        self.profiles = profiles
        self.platforms = platforms
        self.ledger = ledger
        self.create, self.confirm, self.refunds, self.reads, self.close = create, confirm, refunds, reads, close

    def poll(self, *, now: datetime | None = None, limit: int = 200) -> PollReport:
        """One polling round; returns what it did."""
        now = now or utcnow()
        report = PollReport()
        settle = now - timedelta(seconds=self.profiles.poll_after_seconds)
        with self.db.unit_of_work() as session:
            created = list(session.execute(select(PaymentNotice.id).where(PaymentNotice.status == State.CREATED)
                                           .limit(limit)).scalars())
            refunds = list(session.execute(select(PaymentRefund.id).where(
                PaymentRefund.status == "pending", PaymentRefund.created_at < settle).limit(limit)).scalars())
        waiting = self._due_notices(now, limit)
        for notice_id in created:
            _guard(report, lambda: self.create.register(notice_id).status == State.REGISTERED
                   and report.count("registered"))
        for notice in waiting:  # each one's next check is set already: one the platform refuses waits its turn
            _guard(report, lambda: self._poll_one(notice, now, report))
        for refund_id in refunds:
            _guard(report, lambda: (report.count("refunds_retried"), self.refunds.send(refund_id)))
        for notice_id in self._due_receipts(now, limit, report):  # a receipt stored ends its checks (`reads`)
            _guard(report, lambda: self.reads.receipt(notice_id) is not None and report.count("receipts"))
        report.republished = self.ledger.relay()
        return report

    def _due_notices(self, now: datetime, limit: int) -> list[PaymentNotice]:
        """Take the notices whose platform check is due, oldest first, and move each check on
        (`domain.next_platform_check`) in one transaction; return those to ask the platform about."""
        retry, withdrawn = timedelta(seconds=self.profiles.poll_after_seconds), set(self.close.closed_here_only)
        with self.db.unit_of_work() as session:
            due = list(session.execute(select(PaymentNotice).where(PaymentNotice.platform_check_at <= now)
                                       .order_by(PaymentNotice.platform_check_at).limit(limit)
                                       .with_for_update(skip_locked=True)).scalars())
            checks = [(n, next_platform_check(n.status, n.platform not in withdrawn, n.due_at, n.updated_at, now,
                                              retry)) for n in due]
            if checks:
                session.execute(_PLATFORM_CHECK_MOVED, [{"nid": n.id, "at": at} for n, at in checks])
        return [notice for notice, at in checks if at is not None]

    def _due_receipts(self, now: datetime, limit: int, report: PollReport) -> list[str]:
        """Take the due e-receipt checks, move each on (`domain.receipt_check`) and give up those past their
        window, in one transaction; return the notices to ask the platform about."""
        retry = timedelta(seconds=self.profiles.poll_after_seconds)
        has_receipt = exists().where(PaymentReceipt.notice_id == PaymentNotice.id)
        with self.db.unit_of_work() as session:
            due = session.execute(select(PaymentNotice.id, PaymentNotice.updated_at, PaymentNotice.payment_code,
                                         has_receipt).where(PaymentNotice.receipt_check_at <= now)
                                  .order_by(PaymentNotice.receipt_check_at).limit(limit)
                                  .with_for_update(of=PaymentNotice, skip_locked=True)).all()
            checks = [(row, receipt_check(row[3], row[1], now, retry)) for row in due]
            if checks:
                session.execute(_RECEIPT_CHECK_MOVED, [{"nid": row[0], "at": check.next_at,
                                                        "given_up": now if check.give_up else None}
                                                       for row, check in checks])
        for (notice_id, changed, payment_code, _), check in checks:
            if check.give_up:
                log.error("payments poll gave up searching the e-receipt of paid notice %s (payment code %s): none "
                          "found in the %d days after its last change at %s; fetch it from the platform by hand "
                          "(receipt_search_abandoned_at is set)", notice_id, mask(payment_code), RECEIPT_DAYS,
                          changed.isoformat())
                RECEIPTS_ABANDONED.inc()
                report.receipts_abandoned += 1
        return [row[0] for row, check in checks if check.search]

    def _poll_one(self, notice: PaymentNotice, now: datetime, report: PollReport) -> None:
        platform = self.platforms[notice.platform]
        result = platform.query(notice)
        action = decide_poll(notice, result, now)
        if action is PollAction.APPLY:
            try:
                if self.confirm.apply(notice.platform, result.payment, source="poll").outcome == APPLIED:
                    report.paid += 1
            except NoticeClosed:
                report.paid_after_close += 1
        elif action is PollAction.CANCEL:
            self.ledger.move(notice.id, Event.CANCELLED, details={"source": "poll"})
            report.cancelled += 1
        elif action in (PollAction.EXPIRE, PollAction.CLOSE_AND_EXPIRE):
            if action is PollAction.CLOSE_AND_EXPIRE:
                platform.close(notice)
            self.ledger.move(notice.id, Event.EXPIRED, details={"source": "poll"})
            report.expired += 1


_NOTICES = PaymentNotice.__table__
# Built once; executemanys over a tick's due checks (at most its limit).
_PLATFORM_CHECK_MOVED = (update(_NOTICES).where(_NOTICES.c.id == bindparam("nid"))
                         .values(platform_check_at=bindparam("at")))
_RECEIPT_CHECK_MOVED = (update(_NOTICES).where(_NOTICES.c.id == bindparam("nid"))
                        .values(receipt_check_at=bindparam("at"), receipt_search_abandoned_at=bindparam("given_up")))


def _guard(report: PollReport, action) -> bool:
    """Run `action`; on a payment error note it in the report and return False."""
    try:
        action()
    except (PaymentError, IllegalTransition, StaleDataError) as exc:
        report.errors.append(f"{type(exc).__name__}: {getattr(exc, 'message', str(exc))}"[:200])
        return False
    return True
