"""Tables of the logistics bridge (R6, R7, R13): shipments, legs, tracking events, leg events, courier bills.

A case has one shipment with up to two live legs: materials (申请材料, applicant -> centre) and results
(办理结果, centre -> applicant). A leg's `state` is its life in govlink (awaiting_payment -> booked ->
closed, or booking_failed / cancelled); `tracking_status` is the normalised carrier status
(logistics_bridge.tracking), only ever moved forward. Money is integer fen, weight integer grams,
times aware UTC. Addresses are kept whole (the carrier needs them); logs show phones masked.
"""
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Shipment(Base):
    """The deliveries of one case (办件): who the applicant is and which service it is for."""

    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), unique=True)
    service_code: Mapped[str] = mapped_column(String(64))  # 事项编码 (config/logistics.yaml services)
    applicant_key: Mapped[str] = mapped_column(String(18))  # resident ID number or USCC, validated
    applicant_kind: Mapped[str] = mapped_column(String(12))  # resident | enterprise
    applicant_subject: Mapped[str | None] = mapped_column(String(200))  # Keycloak subject, when they created it
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_shipments_applicant_key", "applicant_key"),)


class ShipmentLeg(Base):
    """One parcel of a case, booked with one carrier once its postage is paid."""

    __tablename__ = "shipment_legs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # also the carrier's order id
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"))
    kind: Mapped[str] = mapped_column(String(12))  # materials | results
    carrier: Mapped[str] = mapped_column(String(16))  # sf | ems
    state: Mapped[str] = mapped_column(String(20))  # awaiting_payment | booked | booking_failed | cancelled | closed
    tracking_status: Mapped[str | None] = mapped_column(String(20))  # normalised; None until booked
    last_raw_code: Mapped[str | None] = mapped_column(String(32))  # the carrier's code of the last move
    signed_by_other: Mapped[bool] = mapped_column(Boolean, default=False)  # delivered to someone else: follow up
    sender: Mapped[dict] = mapped_column(JSON)  # {name, phone, province, city, district, detail}
    recipient: Mapped[dict] = mapped_column(JSON)
    weight_g: Mapped[int] = mapped_column(Integer)
    postage_fen: Mapped[int] = mapped_column(BigInteger)  # the quote the notice charges
    payment_notice_id: Mapped[str | None] = mapped_column(ForeignKey("payment_notices.id"), unique=True)
    waybill_no: Mapped[str | None] = mapped_column(String(32))  # 运单号
    pickup_code_hash: Mapped[str] = mapped_column(String(200))  # scrypt; the code is shown once
    pickup_attempts: Mapped[int] = mapped_column(Integer, default=0)
    picked_up_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error_code: Mapped[str | None] = mapped_column(String(40))  # why booking or cancelling failed
    error_message: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    booked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last news from the carrier
    last_polled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a leg awaiting payment has its notice asked after again then (sooner while young, daily when old)
    payment_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a cancelled leg's postage is looked at again then (closed, refunded); None: settled, or not cancelled
    postage_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # when the watch of its closed postage notice for a late payment ended unpaid (logged once, counted once)
    postage_watch_abandoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("carrier", "waybill_no", name="uq_shipment_legs_carrier_waybill_no"),
        Index("ix_shipment_legs_shipment_id", "shipment_id"),
        Index("ix_shipment_legs_state", "state"),
        Index("ix_shipment_legs_postage_check_at", "postage_check_at"),
        Index("ix_shipment_legs_payment_check_at", "payment_check_at",
              postgresql_where=text("state = 'awaiting_payment'"), sqlite_where=text("state = 'awaiting_payment'")),
    )


class ShipmentTrackingEvent(Base):
    """One carrier scan of a leg, normalised, with the carrier's raw code; `dedup_key` makes it once only."""

    __tablename__ = "shipment_tracking_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leg_id: Mapped[str] = mapped_column(ForeignKey("shipment_legs.id"))
    dedup_key: Mapped[str] = mapped_column(String(80))  # "<source>:<event id>"
    source: Mapped[str] = mapped_column(String(16))  # sf | ems | kuaidi100
    waybill_no: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    raw_code: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    location: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    signed_by_other: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_status: Mapped[bool] = mapped_column(Boolean, default=False)  # False: history only (late or unknown)
    received_via: Mapped[str] = mapped_column(String(8))  # push | poll
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("leg_id", "dedup_key", name="uq_shipment_tracking_events_leg_id_dedup_key"),
        Index("ix_shipment_tracking_events_waybill_no", "waybill_no"),
    )


class ShipmentLegEvent(Base):
    """A `shipment.*` event of a leg, kept for audit; also the outbox row of its bus message."""

    __tablename__ = "shipment_leg_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leg_id: Mapped[str] = mapped_column(ForeignKey("shipment_legs.id"))
    event_type: Mapped[str] = mapped_column(String(40))  # shipment.booked, shipment.delivered ...
    details: Mapped[dict] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    envelope: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_shipment_leg_events_leg_id", "leg_id"),
        Index("ix_shipment_leg_events_unpublished", "published_at"),
    )


class CourierBill(Base):
    """A courier bill file (对账单) exactly as downloaded, with its SHA-256 (imported once)."""

    __tablename__ = "courier_bills"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM (Beijing)
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    line_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("carrier", "sha256", name="uq_courier_bills_carrier_sha256"),)


class CourierBillLine(Base):
    """One line of a courier bill, parsed (the raw file stays in `courier_bills`)."""

    __tablename__ = "courier_bill_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("courier_bills.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    waybill_no: Mapped[str] = mapped_column(String(32))
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    surcharge_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    weight_g: Mapped[int] = mapped_column(Integer)
    billed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(12))  # billed | cancelled | returned

    __table_args__ = (
        UniqueConstraint("bill_id", "line_no", name="uq_courier_bill_lines_bill_id_line_no"),
        Index("ix_courier_bill_lines_waybill_no", "waybill_no"),
    )
