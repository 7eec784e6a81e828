"""A cancelled leg records when its postage is next looked at: the poller selects only those due.

`shipment_legs.postage_check_at`: NULL once the postage of a cancelled leg is settled (closed and no longer
watched, or its refund asked for), or for a leg not cancelled. Cancelled legs with a postage notice are made
due once, so the poller settles or schedules each (it asks the payment side for their notice states).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shipment_legs", sa.Column("postage_check_at", UtcDateTime))
    op.create_index("ix_shipment_legs_postage_check_at", "shipment_legs", ["postage_check_at"])
    op.execute("UPDATE shipment_legs SET postage_check_at = updated_at "
               "WHERE state = 'cancelled' AND payment_notice_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_shipment_legs_postage_check_at", table_name="shipment_legs")
    op.drop_column("shipment_legs", "postage_check_at")
