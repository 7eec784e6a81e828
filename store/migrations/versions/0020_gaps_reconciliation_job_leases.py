"""Reconciliation jobs' leases: the process that owns a queued or running job (`owner`) and its last
heartbeat (`heartbeat_at`), so a job whose gateway process died is found and failed (owner_lost).

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reconciliation_jobs", sa.Column("owner", sa.String(200), nullable=True))
    op.add_column("reconciliation_jobs", sa.Column("heartbeat_at", UtcDateTime, nullable=True))
    op.create_index("ix_reconciliation_jobs_state", "reconciliation_jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_jobs_state", table_name="reconciliation_jobs")
    op.drop_column("reconciliation_jobs", "heartbeat_at")
    op.drop_column("reconciliation_jobs", "owner")
