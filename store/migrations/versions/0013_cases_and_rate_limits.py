"""Guards of issue 15: case owners (`cases`) and rate-limit token buckets (`rate_limit_buckets`).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("owner_subject", sa.String(200)),
        sa.Column("owner_key", sa.String(18)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "rate_limit_buckets",
        sa.Column("bucket", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    op.drop_table("cases")
