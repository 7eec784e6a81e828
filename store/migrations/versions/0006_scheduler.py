"""Scheduler: one run per job and period.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_runs",
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("outcome", sa.Text),
        sa.PrimaryKeyConstraint("job", "period", name="pk_scheduled_runs"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
