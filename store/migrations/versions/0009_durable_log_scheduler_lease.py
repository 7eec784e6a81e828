"""Scheduler: claims hold a lease that expires; failed runs wait for their next attempt.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_runs") as batch:
        batch.add_column(sa.Column("lease_until", UtcDateTime))
        batch.add_column(sa.Column("next_attempt_at", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_runs") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("lease_until")
