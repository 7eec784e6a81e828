"""The operations console: circuit states per worker, the operators' audit trail, parking-lot samples,
and an index so the console's hourly service figures read only the last hour of `service_calls`.

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "connector_circuits",
        sa.Column("worker_id", sa.String(200), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sa.Column("seen_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("worker_id", "service", name="pk_connector_circuits"),
    )
    op.create_index("ix_connector_circuits_service", "connector_circuits", ["service"])
    op.create_index("ix_connector_circuits_seen_at", "connector_circuits", ["seen_at"])
    op.create_table(
        "operator_audit",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(64)),
        sa.Column("reason", sa.Text()),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("log_seq", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_operator_audit"),
    )
    op.create_index("ix_operator_audit_at", "operator_audit", ["at"])
    op.create_index("ix_operator_audit_target", "operator_audit", ["target"])
    op.create_table(
        "parking_samples",
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sampled_at", UtcDateTime, nullable=False),
        sa.Column("previous_count", sa.Integer()),
        sa.Column("previous_at", UtcDateTime),
        sa.PrimaryKeyConstraint("service", name="pk_parking_samples"),
    )
    op.create_index("ix_service_calls_service_created_at", "service_calls", ["service", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_service_calls_service_created_at", table_name="service_calls")
    op.drop_table("parking_samples")
    op.drop_index("ix_operator_audit_target", table_name="operator_audit")
    op.drop_index("ix_operator_audit_at", table_name="operator_audit")
    op.drop_table("operator_audit")
    op.drop_index("ix_connector_circuits_seen_at", table_name="connector_circuits")
    op.drop_index("ix_connector_circuits_service", table_name="connector_circuits")
    op.drop_table("connector_circuits")
