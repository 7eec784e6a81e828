"""Identity: account re-bindings (issue 15 finding 4), the audit of accounts reclaimed by their owner.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_rebindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("resident_id_masked", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("level_before", sa.Integer, nullable=False),
        sa.Column("level_after", sa.Integer, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("credentials_removed", sa.Integer, nullable=False),
        sa.Column("sessions_ended", sa.Integer, nullable=False),
        sa.Column("rebound_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_account_rebindings_subject", "account_rebindings", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_account_rebindings_subject", table_name="account_rebindings")
    op.drop_table("account_rebindings")
