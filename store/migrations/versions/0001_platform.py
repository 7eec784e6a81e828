"""Platform and bus: the message log (with its head), processed messages, service calls.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_log",
        sa.Column("seq", BigId, primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("service", sa.String(200)),
        sa.Column("client", sa.String(200)),
        sa.Column("user_masked", sa.String(200)),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("case_id", sa.String(64)),
        sa.Column("logged_at", UtcDateTime, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_message_log"),
        sa.UniqueConstraint("record_hash", name="uq_message_log_record_hash"),
    )
    op.create_index("ix_message_log_case_id", "message_log", ["case_id"])
    op.create_index("ix_message_log_message_id", "message_log", ["message_id"])
    op.create_index("ix_message_log_correlation_id", "message_log", ["correlation_id"])
    op.create_table(
        "message_log_head",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_log_head"),
    )
    op.create_table(
        "service_calls",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("user_masked", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("case_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("duration_ms", sa.Integer),
        sa.PrimaryKeyConstraint("message_id", name="pk_service_calls"),
    )
    op.create_index("ix_service_calls_case_id", "service_calls", ["case_id"])
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_processed_messages"),
    )


def downgrade() -> None:
    op.drop_table("processed_messages")
    op.drop_index("ix_service_calls_case_id", table_name="service_calls")
    op.drop_table("service_calls")
    op.drop_table("message_log_head")
    op.drop_index("ix_message_log_correlation_id", table_name="message_log")
    op.drop_index("ix_message_log_message_id", table_name="message_log")
    op.drop_index("ix_message_log_case_id", table_name="message_log")
    op.drop_table("message_log")
