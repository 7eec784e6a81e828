"""Console sessions kept server-side (issue 15 #9): the cookie carries only a random id.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64)),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_sessions_sid", "console_sessions", ["sid"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_sid", table_name="console_sessions")
    op.drop_table("console_sessions")
