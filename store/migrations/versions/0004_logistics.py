"""Logistics bridge: shipments, legs, tracking events, leg events (outbox), courier bills and their lines.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from store.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _leg_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["leg_id"], ["shipment_legs.id"], name=f"fk_{table}_leg_id_shipment_legs")


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("applicant_key", sa.String(18), nullable=False),
        sa.Column("applicant_kind", sa.String(12), nullable=False),
        sa.Column("applicant_subject", sa.String(200)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipments"),
        sa.UniqueConstraint("case_id", name="uq_shipments_case_id"),
    )
    op.create_index("ix_shipments_applicant_key", "shipments", ["applicant_key"])

    op.create_table(
        "shipment_legs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("shipment_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("tracking_status", sa.String(20)),
        sa.Column("last_raw_code", sa.String(32)),
        sa.Column("signed_by_other", sa.Boolean, nullable=False),
        sa.Column("sender", sa.JSON, nullable=False),
        sa.Column("recipient", sa.JSON, nullable=False),
        sa.Column("weight_g", sa.Integer, nullable=False),
        sa.Column("postage_fen", sa.BigInteger, nullable=False),
        sa.Column("payment_notice_id", sa.String(36)),
        sa.Column("waybill_no", sa.String(32)),
        sa.Column("pickup_code_hash", sa.String(200), nullable=False),
        sa.Column("pickup_attempts", sa.Integer, nullable=False),
        sa.Column("picked_up_verified_at", UtcDateTime),
        sa.Column("error_code", sa.String(40)),
        sa.Column("error_message", sa.String(300)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("booked_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("last_event_at", UtcDateTime),
        sa.Column("last_polled_at", UtcDateTime),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_legs"),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipments.id"], name="fk_shipment_legs_shipment_id_shipments"),
        sa.ForeignKeyConstraint(["payment_notice_id"], ["payment_notices.id"],
                                name="fk_shipment_legs_payment_notice_id_payment_notices"),
        sa.UniqueConstraint("payment_notice_id", name="uq_shipment_legs_payment_notice_id"),
        sa.UniqueConstraint("carrier", "waybill_no", name="uq_shipment_legs_carrier_waybill_no"),
    )
    op.create_index("ix_shipment_legs_shipment_id", "shipment_legs", ["shipment_id"])
    op.create_index("ix_shipment_legs_state", "shipment_legs", ["state"])

    op.create_table(
        "shipment_tracking_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("leg_id", sa.String(36), nullable=False),
        sa.Column("dedup_key", sa.String(80), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("waybill_no", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("raw_code", sa.String(32), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("signed_by_other", sa.Boolean, nullable=False),
        sa.Column("moved_status", sa.Boolean, nullable=False),
        sa.Column("received_via", sa.String(8), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_tracking_events"),
        _leg_fk("shipment_tracking_events"),
        sa.UniqueConstraint("leg_id", "dedup_key", name="uq_shipment_tracking_events_leg_id_dedup_key"),
    )
    op.create_index("ix_shipment_tracking_events_waybill_no", "shipment_tracking_events", ["waybill_no"])

    op.create_table(
        "shipment_leg_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("leg_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("published_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_leg_events"),
        _leg_fk("shipment_leg_events"),
        sa.UniqueConstraint("message_id", name="uq_shipment_leg_events_message_id"),
    )
    op.create_index("ix_shipment_leg_events_leg_id", "shipment_leg_events", ["leg_id"])
    op.create_index("ix_shipment_leg_events_unpublished", "shipment_leg_events", ["published_at"])

    op.create_table(
        "courier_bills",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("imported_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_courier_bills"),
        sa.UniqueConstraint("carrier", "sha256", name="uq_courier_bills_carrier_sha256"),
    )

    op.create_table(
        "courier_bill_lines",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bill_id", BigId, nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("waybill_no", sa.String(32), nullable=False),
        sa.Column("fee_fen", sa.BigInteger, nullable=False),
        sa.Column("surcharge_fen", sa.BigInteger, nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("weight_g", sa.Integer, nullable=False),
        sa.Column("billed_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_courier_bill_lines"),
        sa.ForeignKeyConstraint(["bill_id"], ["courier_bills.id"], name="fk_courier_bill_lines_bill_id_courier_bills"),
        sa.UniqueConstraint("bill_id", "line_no", name="uq_courier_bill_lines_bill_id_line_no"),
    )
    op.create_index("ix_courier_bill_lines_waybill_no", "courier_bill_lines", ["waybill_no"])


def downgrade() -> None:
    for table in ("courier_bill_lines", "courier_bills", "shipment_leg_events", "shipment_tracking_events",
                  "shipment_legs", "shipments"):
        op.drop_table(table)
