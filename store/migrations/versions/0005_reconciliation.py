"""Reconciliation: imported files, versioned runs, discrepancies, resolution steps.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "reconciliation_imports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("imported_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_imports"),
        sa.UniqueConstraint("source", "sha256", name="uq_reconciliation_imports_source_sha256"),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("supersedes_id", BigId),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("import_ids", sa.JSON, nullable=False),
        sa.Column("matched_count", sa.BigInteger, nullable=False),
        sa.Column("matched_amount_fen", sa.BigInteger, nullable=False),
        sa.Column("discrepancy_count", sa.Integer, nullable=False),
        sa.Column("unmatched_amount_fen", sa.BigInteger, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("cleared_count", sa.Integer, nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_runs"),
        sa.ForeignKeyConstraint(["supersedes_id"], ["reconciliation_runs.id"],
                                name="fk_reconciliation_runs_supersedes_id_reconciliation_runs"),
        sa.UniqueConstraint("kind", "business_date", "version", name="uq_reconciliation_runs_kind_date_version"),
    )
    op.create_index("ix_reconciliation_runs_business_date", "reconciliation_runs", ["business_date"])
    op.create_table(
        "reconciliation_discrepancies",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("subtype", sa.String(48), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(48), nullable=False),
        sa.Column("left_amount_fen", sa.BigInteger),
        sa.Column("right_amount_fen", sa.BigInteger),
        sa.Column("left_records", sa.JSON, nullable=False),
        sa.Column("right_records", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_discrepancies"),
        sa.ForeignKeyConstraint(["run_id"], ["reconciliation_runs.id"],
                                name="fk_reconciliation_discrepancies_run_id_reconciliation_runs"),
        sa.UniqueConstraint("run_id", "seq", name="uq_reconciliation_discrepancies_run_id_seq"),
    )
    op.create_index("ix_reconciliation_discrepancies_run_category", "reconciliation_discrepancies",
                    ["run_id", "category"])
    op.create_index("ix_reconciliation_discrepancies_status", "reconciliation_discrepancies", ["status"])
    op.create_index("ix_reconciliation_discrepancies_fingerprint", "reconciliation_discrepancies", ["fingerprint"])
    op.create_table(
        "reconciliation_steps",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("discrepancy_id", BigId, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(40)),
        sa.Column("note", sa.Text),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_steps"),
        sa.ForeignKeyConstraint(["discrepancy_id"], ["reconciliation_discrepancies.id"],
                                name="fk_reconciliation_steps_discrepancy_id"),
    )
    op.create_index("ix_reconciliation_steps_discrepancy_id", "reconciliation_steps", ["discrepancy_id"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_steps_discrepancy_id", table_name="reconciliation_steps")
    op.drop_table("reconciliation_steps")
    for name in ("ix_reconciliation_discrepancies_fingerprint", "ix_reconciliation_discrepancies_status",
                 "ix_reconciliation_discrepancies_run_category"):
        op.drop_index(name, table_name="reconciliation_discrepancies")
    op.drop_table("reconciliation_discrepancies")
    op.drop_index("ix_reconciliation_runs_business_date", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
    op.drop_table("reconciliation_imports")
