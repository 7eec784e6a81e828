"""Message log: how far each local spool file has been written into the chain.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_log_spools",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_message_log_spools"),
    )


def downgrade() -> None:
    op.drop_table("message_log_spools")
