"""A generated payment ledger (reconciliation.scenarios) written into the payment tables, as the
payment bridge would have left it: a notice per payment code, its confirmation or refund."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from reconciliation.records import PAID, REFUNDED, UNPAID, from_epoch
from reconciliation.scenarios import OUR_DIVISION
from store.models.payment import PaymentConfirmation, PaymentNotice, PaymentRefund


def seed_payment_ledger(session, ledger, created: datetime) -> dict[str, str]:
    """Add ``ledger``'s notices (created at ``created``), confirmations and refunds to ``session``;
    returns the notice id of each payment code."""
    notices: dict[str, str] = {}
    for p in sorted(ledger, key=lambda p: p.status != PAID):
        if p.payment_code not in notices:
            notices[p.payment_code] = str(uuid.uuid4())
            session.add(PaymentNotice(
                id=notices[p.payment_code], agency_code="340100-SJ-ZW", agency_name="政务服务中心",
                adm_div_code=OUR_DIVISION, payer_key="340104198506150214", payer_kind="resident",
                payer_name="王晓明", items=[], total_fen=p.amount_fen, due_at=created + timedelta(days=7),
                status={PAID: "paid", REFUNDED: "refunded"}.get(p.status, "registered"),
                payment_code=p.payment_code, platform="nontax", created_by="test", created_at=created,
                updated_at=created))
            session.flush()
        if p.status == PAID:
            session.add(PaymentConfirmation(notice_id=notices[p.payment_code], platform="nontax",
                                            transaction_id=p.transaction_id, amount_fen=p.amount_fen,
                                            paid_at=from_epoch(p.paid_at), source="callback", outcome="applied"))
        elif p.status == REFUNDED:
            session.add(PaymentRefund(notice_id=notices[p.payment_code], refund_request_id=f"rr-{uuid.uuid4()}",
                                      request_hash="0" * 64, amount_fen=p.amount_fen, status="succeeded",
                                      platform_refund_id=p.transaction_id or None, requested_by="test",
                                      completed_at=from_epoch(p.paid_at)))
        else:
            assert p.status == UNPAID, p.status
    return notices
