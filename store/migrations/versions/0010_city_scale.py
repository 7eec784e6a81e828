"""City scale (issue 18): supervision rollups, open-step and ratings indexes, paging indexes.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_rollups",
        sa.Column("span", sa.String(1), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("step", sa.String(60), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=False),
        sa.Column("overdue", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("histogram", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("span", "day", "step", "service", "system", name="pk_supervision_rollups"),
    )
    op.create_table(
        "supervision_satisfaction_rollups",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("ratings", sa.BigInteger, nullable=False),
        sa.Column("rating_sum", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "dimension", "key", name="pk_supervision_satisfaction_rollups"),
    )
    op.create_table(
        "supervision_rated_groups",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "dimension", "key", name="pk_supervision_rated_groups"),
    )
    # Open steps only, covering what the live counts read (index-only scans on PostgreSQL).
    op.create_index("ix_supervision_steps_open_started_at", "supervision_steps", ["started_at"],
                    postgresql_where=sa.text("ended_at IS NULL"), sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_include=["step", "service", "system", "overdue", "warned_at"])
    op.create_index("ix_supervision_steps_service_started_at", "supervision_steps", ["service", "started_at"])
    op.create_index("ix_supervision_satisfaction_rated_at", "supervision_satisfaction", ["rated_at"],
                    postgresql_include=["rating"])  # the period's ratings counted from the index alone
    op.create_index("ix_reconciliation_discrepancies_run_status_seq", "reconciliation_discrepancies",
                    ["run_id", "status", "seq"])  # a run's discrepancies of one status, in order (keyset paging)
    # The steps already recorded: count them in the new rollups.
    from sqlalchemy.orm import Session

    from supervision.rollups import rebuild

    session = Session(bind=op.get_bind())
    rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_index("ix_reconciliation_discrepancies_run_status_seq", "reconciliation_discrepancies")
    op.drop_index("ix_supervision_satisfaction_rated_at", "supervision_satisfaction")
    op.drop_index("ix_supervision_steps_service_started_at", "supervision_steps")
    op.drop_index("ix_supervision_steps_open_started_at", "supervision_steps")
    op.drop_table("supervision_rated_groups")
    op.drop_table("supervision_satisfaction_rollups")
    op.drop_table("supervision_rollups")
