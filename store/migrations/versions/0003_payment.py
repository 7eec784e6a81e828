"""Payment bridge: notices, idempotency keys, notice events, confirmations, refunds, receipts,
payment-code counters, statements and their lines.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["notice_id"], ["payment_notices.id"], name=f"fk_{table}_notice_id_payment_notices")


def upgrade() -> None:
    op.create_table(
        "payment_notices",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("agency_code", sa.String(32), nullable=False),
        sa.Column("agency_name", sa.String(100), nullable=False),
        sa.Column("adm_div_code", sa.String(6), nullable=False),
        sa.Column("payer_key", sa.String(18), nullable=False),
        sa.Column("payer_kind", sa.String(12), nullable=False),
        sa.Column("payer_name", sa.String(100), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("paid_fen", sa.BigInteger, nullable=False),
        sa.Column("refunded_fen", sa.BigInteger, nullable=False),
        sa.Column("case_id", sa.String(64)),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payment_code", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("platform_ref", sa.String(64)),
        sa.Column("pay_url", sa.String(1024)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_notices"),
        sa.UniqueConstraint("payment_code", name="uq_payment_notices_payment_code"),
    )
    op.create_index("ix_payment_notices_payer_key", "payment_notices", ["payer_key"])
    op.create_index("ix_payment_notices_status", "payment_notices", ["status"])
    op.create_index("ix_payment_notices_case_id", "payment_notices", ["case_id"])

    op.create_table(
        "payment_idempotency_keys",
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("caller", "key", name="pk_payment_idempotency_keys"),
        _fk("payment_idempotency_keys"),
    )

    op.create_table(
        "payment_notice_events",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("published_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_payment_notice_events"),
        sa.UniqueConstraint("message_id", name="uq_payment_notice_events_message_id"),
        sa.UniqueConstraint("notice_id", "seq", name="uq_payment_notice_events_notice_id_seq"),
        _fk("payment_notice_events"),
    )
    op.create_index("ix_payment_notice_events_unpublished", "payment_notice_events", ["published_at"])

    op.create_table(
        "payment_confirmations",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("paid_at", UtcDateTime, nullable=False),
        sa.Column("pay_mode", sa.String(16)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_confirmations"),
        sa.UniqueConstraint("transaction_id", name="uq_payment_confirmations_transaction_id"),
        _fk("payment_confirmations"),
    )
    op.create_index("ix_payment_confirmations_notice_id", "payment_confirmations", ["notice_id"])

    op.create_table(
        "payment_refunds",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("refund_request_id", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(80)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("platform_refund_id", sa.String(64)),
        sa.Column("failure", sa.String(200)),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("completed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_payment_refunds"),
        sa.UniqueConstraint("refund_request_id", name="uq_payment_refunds_refund_request_id"),
        _fk("payment_refunds"),
    )
    op.create_index("ix_payment_refunds_notice_id", "payment_refunds", ["notice_id"])

    op.create_table(
        "payment_receipts",
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("ebill_code", sa.String(32), nullable=False),
        sa.Column("ebill_no", sa.String(32), nullable=False),
        sa.Column("check_code", sa.String(32), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("download_url", sa.String(1024), nullable=False),
        sa.Column("fetched_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("notice_id", name="pk_payment_receipts"),
        _fk("payment_receipts"),
    )

    op.create_table(
        "payment_code_counters",
        sa.Column("division", sa.String(12), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("division", "year", name="pk_payment_code_counters"),
    )

    op.create_table(
        "payment_statements",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("statement_date", sa.Date, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("imported_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_statements"),
        sa.UniqueConstraint("platform", "sha256", name="uq_payment_statements_platform_sha256"),
    )

    op.create_table(
        "payment_statement_lines",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("statement_id", BigId, nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("order_ref", sa.String(64), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("refund_ref", sa.String(64)),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("fee_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paid_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_statement_lines"),
        sa.ForeignKeyConstraint(["statement_id"], ["payment_statements.id"],
                                name="fk_payment_statement_lines_statement_id_payment_statements"),
    )
    op.create_index("ix_payment_statement_lines_statement_id", "payment_statement_lines", ["statement_id"])
    op.create_index("ix_payment_statement_lines_order_ref", "payment_statement_lines", ["order_ref"])


def downgrade() -> None:
    for table in ("payment_statement_lines", "payment_statements", "payment_code_counters", "payment_receipts",
                  "payment_refunds", "payment_confirmations", "payment_notice_events", "payment_idempotency_keys",
                  "payment_notices"):
        op.drop_table(table)
