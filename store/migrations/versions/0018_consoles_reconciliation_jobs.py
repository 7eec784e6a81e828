"""Reconciliation jobs: a day's run started from the finance console and run in the background
(state queued | running | done | failed, its stage and progress, the run it made or why it failed).

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "reconciliation_jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("reconciliation_runs.id"), nullable=True),
        sa.Column("error_code", sa.String(48), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_reconciliation_jobs_created_at", "reconciliation_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_jobs_created_at", table_name="reconciliation_jobs")
    op.drop_table("reconciliation_jobs")
