"""A leg awaiting payment records when its postage notice is next asked after (issue 18).

The logistics poll used to take the oldest legs awaiting payment on every round: legs whose postage is never
paid were read again each time and, once there were more of them than a round's limit, a paid leg whose
`payment.paid` event was missed was never reached. `shipment_legs.payment_check_at` moves on each time the
poll finds the notice unpaid (sooner while the leg is young, at most daily), and a partial index holds only
legs awaiting payment. Existing ones are due at once.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

AWAITING = sa.text("state = 'awaiting_payment'")


def upgrade() -> None:
    op.add_column("shipment_legs", sa.Column("payment_check_at", UtcDateTime))
    op.execute("UPDATE shipment_legs SET payment_check_at = updated_at WHERE state = 'awaiting_payment'")
    op.create_index("ix_shipment_legs_payment_check_at", "shipment_legs", ["payment_check_at"],
                    postgresql_where=AWAITING, sqlite_where=AWAITING)


def downgrade() -> None:
    op.drop_index("ix_shipment_legs_payment_check_at", table_name="shipment_legs")
    op.drop_column("shipment_legs", "payment_check_at")
