"""City scale, continued (issue 18): sealed checkpoints of the message log's verification, and indexes
so that /metrics and the pollers read what is due or recent, not the history.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_log_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("verified", sa.BigInteger(), nullable=False),
        sa.Column("incremental", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_log_checkpoints_seq", "message_log_checkpoints", ["seq"])
    # /metrics and the statistics count the complaints filed in their period only (a range of this index).
    op.create_index("ix_supervision_complaints_created_at_status", "supervision_complaints", ["created_at", "status"])
    # The payments poll looks for missing e-receipts among the recently changed non-tax notices only.
    op.create_index("ix_payment_notices_platform_updated_at", "payment_notices", ["platform", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_payment_notices_platform_updated_at", table_name="payment_notices")
    op.drop_index("ix_supervision_complaints_created_at_status", table_name="supervision_complaints")
    op.drop_index("ix_message_log_checkpoints_seq", table_name="message_log_checkpoints")
    op.drop_table("message_log_checkpoints")
