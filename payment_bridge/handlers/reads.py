"""Reading notices: one notice, its history and refunds, a payer's notices, states by id, the e-receipt."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kernel.clock import utcnow
from payment_bridge.domain import PAID_STATES
from store.models.payment import PaymentNotice, PaymentNoticeEvent, PaymentReceipt, PaymentRefund


class NoticeDetail:
    """A notice with its history (every transition) and, when asked for, its refunds; reads like the notice."""

    def __init__(self, notice: PaymentNotice, history: list[PaymentNoticeEvent],
                 refunds: list[PaymentRefund] | None = None):
        self.notice = notice
        self.history = history
        if refunds is not None:  # otherwise absent, not empty (an answer without refunds leaves them out)
            self.refunds = refunds

    def __getattr__(self, name):  # only for what the detail itself does not have
        if name == "notice":
            raise AttributeError(name)
        return getattr(self.notice, name)


class Reads:
    def __init__(self, db, platforms: dict):
        self.db = db
        self.platforms = platforms

    def get(self, notice_id: str) -> PaymentNotice | None:
        with self.db.unit_of_work() as session:
            return session.get(PaymentNotice, notice_id)

    def detail(self, notice: PaymentNotice, *, refunds: bool = True) -> NoticeDetail:
        return NoticeDetail(notice, self.history(notice.id), self.refunds_of(notice.id) if refunds else None)

    def notice_states(self, notice_ids: list[str]) -> dict[str, str]:
        """The status of each notice named (a page of ids at most; unknown ids are left out)."""
        if len(notice_ids) > 1000:
            raise ValueError("notice_states takes at most 1,000 ids at a time")
        with self.db.unit_of_work() as session:
            return dict(session.execute(select(PaymentNotice.id, PaymentNotice.status)
                                        .where(PaymentNotice.id.in_(list(notice_ids)))).all())

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
                # Found: the poller's checks for it end (`handlers.poll`).
                session.execute(update(PaymentNotice).where(PaymentNotice.id == notice_id)
                                .values(receipt_check_at=None).execution_options(synchronize_session=False))
        except IntegrityError:
            pass  # fetched concurrently
        with self.db.unit_of_work() as session:
            return session.get(PaymentReceipt, notice_id)
