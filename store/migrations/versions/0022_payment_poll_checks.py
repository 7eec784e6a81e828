"""The payments poll's checks are scheduled on the notice: the platform asked after a waiting notice, and a
paid non-tax notice's missing e-receipt looked for, when due (issue 18).

The payments poll read a month of paid non-tax notices on every tick, twice: once for the e-receipts still
missing (an anti-join with `payment_receipts` over 30 days of `updated_at`) and once for the searches to give
up (30 more days). At a city's month that was 1.4 to 2.4 s a tick, against 26 ms on small data.
`payment_notices.receipt_check_at` is set when a non-tax notice is paid (or moves on while paid), moved on
each time the poller finds no e-receipt, and cleared when it is found or the search is given up. A partial
index holds only the notices with a check ahead, so a tick reads the checks that are due, whatever the
history. The old (platform, updated_at) index served only those two reads and is dropped.

Likewise the notices a payment may reach unseen (registered, expired, cancelled) were taken by the oldest
`updated_at` among every such notice due in the last 30 days, a month of expired notices sorted on every
tick (171 ms with 100,000 of them). `payment_notices.platform_check_at` is set as a notice enters one of
those states and moved on each time the poller asks; the poller no longer touches `updated_at`.
The pending refunds it sends again are read by a partial index of the pending ones (a scan of every refund
before).

Existing notices: a waiting notice within 30 days of its due date is due at once; a paid non-tax notice with no e-receipt and no given-up search, changed in the last 60 days
(the old search's and give-up's windows together), is due at once; the poller searches it or, past its window,
gives it up (logged and counted once), as the old poll would have.

Revision ID: 0022
Revises: 0021
"""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

CHECK_AHEAD = sa.text("receipt_check_at IS NOT NULL")
ASK_AHEAD = sa.text("platform_check_at IS NOT NULL")
PENDING = sa.text("status = 'pending'")
PAID = ("paid", "paid_after_close", "partly_refunded", "refund_pending", "refunded")  # PAID_STATES at 0022


def upgrade() -> None:
    op.add_column("payment_notices", sa.Column("receipt_check_at", UtcDateTime))
    op.add_column("payment_notices", sa.Column("platform_check_at", UtcDateTime))
    op.get_bind().execute(sa.text(
        "UPDATE payment_notices SET platform_check_at = updated_at "
        "WHERE status IN ('registered', 'expired', 'cancelled') AND due_at > :since"
    ).bindparams(sa.bindparam("since", type_=UtcDateTime)), {"since": datetime.now(timezone.utc) - timedelta(days=30)})
    op.get_bind().execute(sa.text(
        "UPDATE payment_notices SET receipt_check_at = updated_at "
        "WHERE platform = 'nontax' AND status IN :paid AND receipt_search_abandoned_at IS NULL "
        "AND updated_at > :since AND NOT EXISTS (SELECT 1 FROM payment_receipts r WHERE r.notice_id = payment_notices.id)"
    ).bindparams(sa.bindparam("paid", expanding=True), sa.bindparam("since", type_=UtcDateTime)),
        {"paid": list(PAID), "since": datetime.now(timezone.utc) - timedelta(days=60)})
    op.create_index("ix_payment_notices_receipt_check_at", "payment_notices", ["receipt_check_at"],
                    postgresql_where=CHECK_AHEAD, sqlite_where=CHECK_AHEAD)
    op.create_index("ix_payment_notices_platform_check_at", "payment_notices", ["platform_check_at"],
                    postgresql_where=ASK_AHEAD, sqlite_where=ASK_AHEAD)
    op.drop_index("ix_payment_notices_platform_updated_at", table_name="payment_notices")
    op.create_index("ix_payment_refunds_pending", "payment_refunds", ["created_at"],
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_payment_refunds_pending", table_name="payment_refunds")
    op.create_index("ix_payment_notices_platform_updated_at", "payment_notices", ["platform", "updated_at"])
    op.drop_index("ix_payment_notices_receipt_check_at", table_name="payment_notices")
    op.drop_index("ix_payment_notices_platform_check_at", table_name="payment_notices")
    op.drop_column("payment_notices", "platform_check_at")
    op.drop_column("payment_notices", "receipt_check_at")
