"""Identity: real-name verifications, CIBA requests, sessions ended by back-channel logout.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("resident_id_masked", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("level_before", sa.Integer, nullable=False),
        sa.Column("level_after", sa.Integer, nullable=False),
        sa.Column("verified_by", sa.String(200), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("verified_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_verifications"),
    )
    op.create_index("ix_identity_verifications_subject", "identity_verifications", ["subject"])
    op.create_table(
        "ciba_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("binding_message", sa.String(200)),
        sa.Column("callback_token", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_ciba_requests"),
    )
    op.create_index("ix_ciba_requests_subject_status", "ciba_requests", ["subject", "status"])
    op.create_table(
        "ended_sessions",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("client_id", sa.String(200)),
        sa.Column("ended_at", UtcDateTime, nullable=False),
        sa.Column("forget_after", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_ended_sessions"),
    )
    op.create_index("ix_ended_sessions_ended_at", "ended_sessions", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_ended_sessions_ended_at", table_name="ended_sessions")
    op.drop_table("ended_sessions")
    op.drop_index("ix_ciba_requests_subject_status", table_name="ciba_requests")
    op.drop_table("ciba_requests")
    op.drop_index("ix_identity_verifications_subject", table_name="identity_verifications")
    op.drop_table("identity_verifications")
