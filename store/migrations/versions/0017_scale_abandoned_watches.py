"""Nothing silent: a search or watch the pollers give up on is recorded once (issue 18, session 7).

`payment_notices.receipt_search_abandoned_at`: when the payments poll stopped searching the missing e-receipt
of a paid non-tax notice (RECEIPT_DAYS after its last change); NULL while searched or once found.
`shipment_legs.postage_watch_abandoned_at`: when the logistics poll stopped watching a cancelled leg's closed
postage notice for a late payment (postage_watch_days after the cancel).
Each is set in the transaction that gives up, so the ERROR line and the counter come once per record.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payment_notices", sa.Column("receipt_search_abandoned_at", UtcDateTime))
    op.add_column("shipment_legs", sa.Column("postage_watch_abandoned_at", UtcDateTime))


def downgrade() -> None:
    op.drop_column("shipment_legs", "postage_watch_abandoned_at")
    op.drop_column("payment_notices", "receipt_search_abandoned_at")
