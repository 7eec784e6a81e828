"""Supervision: supervised steps, alerts, the message-log cursor, satisfaction, complaints.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "supervision_steps",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(60), nullable=False),
        sa.Column("case_id", sa.String(64)),
        sa.Column("service", sa.String(100)),
        sa.Column("system", sa.String(200)),
        sa.Column("thread", sa.String(64), nullable=False),
        sa.Column("start_message_id", sa.String(36), nullable=False),
        sa.Column("start_type", sa.String(120), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("escalate_at", UtcDateTime, nullable=False),
        sa.Column("end_message_id", sa.String(36)),
        sa.Column("end_type", sa.String(120)),
        sa.Column("ended_at", UtcDateTime),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("outcome", sa.String(16)),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("warned_at", UtcDateTime),
        sa.Column("escalated_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_steps"),
        sa.UniqueConstraint("step", "start_message_id", name="uq_supervision_steps_step_start_message_id"),
    )
    op.create_index("ix_supervision_steps_case_id", "supervision_steps", ["case_id"])
    op.create_index("ix_supervision_steps_thread", "supervision_steps", ["thread"])
    op.create_index("ix_supervision_steps_open", "supervision_steps", ["ended_at", "escalated_at"])
    op.create_index("ix_supervision_steps_started_at", "supervision_steps", ["started_at"])

    op.create_table(
        "supervision_alerts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("step_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("case_id", sa.String(64)),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("raised_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_alerts"),
        sa.ForeignKeyConstraint(["step_id"], ["supervision_steps.id"],
                                name="fk_supervision_alerts_step_id_supervision_steps"),
        sa.UniqueConstraint("message_id", name="uq_supervision_alerts_message_id"),
        sa.UniqueConstraint("step_id", "kind", name="uq_supervision_alerts_step_id_kind"),
    )
    op.create_index("ix_supervision_alerts_unpublished", "supervision_alerts", ["published_at"])

    op.create_table(
        "supervision_cursor",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("checked_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_cursor"),
    )

    op.create_table(
        "supervision_satisfaction",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.String(500)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("rated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_supervision_satisfaction"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_supervision_satisfaction_rating"),
    )

    op.create_table(
        "supervision_complaints",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("filer_masked", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("assignee", sa.String(200)),
        sa.Column("reply", sa.Text),
        sa.Column("replied_by", sa.String(200)),
        sa.Column("replied_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_complaints"),
    )
    op.create_index("ix_supervision_complaints_case_id", "supervision_complaints", ["case_id"])
    op.create_index("ix_supervision_complaints_status", "supervision_complaints", ["status"])
    op.create_index("ix_supervision_complaints_subject", "supervision_complaints", ["subject"])


def downgrade() -> None:
    op.drop_table("supervision_complaints")
    op.drop_table("supervision_satisfaction")
    op.drop_table("supervision_cursor")
    op.drop_table("supervision_alerts")
    op.drop_table("supervision_steps")
